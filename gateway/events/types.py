"""Event type URIs and delivery method URNs.

The consent and identity types live under the alliance's own namespace: no standard
defines consent or account-link events, so these URIs are Accord's (SSF 1.0 §3.1.2
lets new event types use any URI; they use the top-level ``sub_id``). A session ended
at logout is CAEP's session-revoked; the SSF control events (verification, stream
updated) are the ones SSF 1.0 §8.1.4 and §8.1.5 define.
"""

from __future__ import annotations

from typing import Final

ALLIANCE: Final = "https://schemas.accord.dev/secevent/"

CONSENT_GRANTED: Final = ALLIANCE + "consent/granted"
CONSENT_WITHDRAWN: Final = ALLIANCE + "consent/withdrawn"
CONSENT_SCOPE_CHANGED: Final = ALLIANCE + "consent/scope-changed"
IDENTITY_LINK_ADDED: Final = ALLIANCE + "identity/link-added"
IDENTITY_LINK_REMOVED: Final = ALLIANCE + "identity/link-removed"
ERASURE_REQUESTED: Final = ALLIANCE + "erasure/requested"

CAEP: Final = "https://schemas.openid.net/secevent/caep/event-type/"
SESSION_REVOKED: Final = CAEP + "session-revoked"  # OpenID CAEP 1.0 §3.1

SSF: Final = "https://schemas.openid.net/secevent/ssf/event-type/"
VERIFICATION: Final = SSF + "verification"
STREAM_UPDATED: Final = SSF + "stream-updated"

# What a stream may request (SSF 1.0 "events_supported").
SUPPORTED: Final = (
    CONSENT_GRANTED,
    CONSENT_WITHDRAWN,
    CONSENT_SCOPE_CHANGED,
    IDENTITY_LINK_ADDED,
    IDENTITY_LINK_REMOVED,
    ERASURE_REQUESTED,
    SESSION_REVOKED,
)
# Delivered on every stream whatever it requested: an erasure request must reach every
# recipient (GDPR Art. 19), and SSF's control events ride every stream (SSF 1.0 §8.1.4).
MANDATORY: Final = frozenset({ERASURE_REQUESTED})
CONTROL: Final = frozenset({VERIFICATION, STREAM_UPDATED})

PUSH: Final = "urn:ietf:rfc:8935"  # RFC 8935, SSF 1.0 §6.1.1
POLL: Final = "urn:ietf:rfc:8936"  # RFC 8936, SSF 1.0 §6.1.2
DELIVERY_METHODS: Final = (PUSH, POLL)

SET_MEDIA_TYPE: Final = "application/secevent+jwt"  # RFC 8417 §7.2
SET_TYP: Final = "secevent+jwt"  # RFC 8417 §2.3


def delivered_types(requested: list[str]) -> list[str]:
    """SSF "events_delivered": requested ∩ supported, plus what is always delivered.

    Unknown URIs are ignored, as SSF 1.0 §8.1.1 requires of a Transmitter."""
    wanted = set(requested) | MANDATORY
    return [uri for uri in SUPPORTED if uri in wanted]


def is_wanted(event_type: str, delivered: list[str]) -> bool:
    return event_type in CONTROL or event_type in MANDATORY or event_type in delivered
