"""Redaction: what a log line must never carry, cut out before the line is written.

The gateway's own code logs no token, secret or personal data, and its tests hold it to
that. This is the second line, for what a library, an exception's message or a later
change lets through: anything that looks like a credential or a way to reach a person is
replaced by a marker naming what stood there.

- JWTs (signed or encrypted; ``eyJ...``), and credentials after an HTTP auth scheme
  (``Bearer``, ``Basic``, ``DPoP``, ``Digest``);
- the value of a sensitive parameter, however it is written (``key=value`` in a query,
  a form or a message; ``"key": "value"`` in JSON; ``'key': 'value'`` in a repr):
  codes, tokens, secrets, assertions, challenges, verifiers, subjects, account ids;
- e-mail addresses and phone numbers;
- long random-looking strings (40 or more URL-safe characters with letters and digits):
  opaque tokens, refresh tokens, client secrets, pairwise subjects, hashes.

Over-redaction is the accepted failure: a redacted ``code=`` in a harmless message costs
a little reading, a leaked one costs an account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SENSITIVE_KEYS = (
    "access_token",
    "refresh_token",
    "id_token_hint",
    "id_token",
    "subject_token",
    "actor_token",
    "device_code",
    "code_verifier",
    "code_challenge",
    "code",
    "verifier",
    "client_secret",
    "client_assertion",
    "assertion",
    "login_challenge",
    "link_challenge",
    "consent_challenge",
    "challenge",
    "request_uri",
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "set-cookie",
    "session",
    "sub",
    "sid",
    "person_id",
    "account_id",
    "platform_user_id",
    "email",
    "phone",
    "phone_number",
)

_KEY = "|".join(re.escape(key) for key in SENSITIVE_KEYS)
# key, its (optional) quotes, = or :, then the value up to a delimiter. The look-behind
# keeps whole keys only: ``status_code=200`` and ``x-code`` are left alone.
_PAIR = re.compile(
    r"(?<![\w-])(?P<kq>[\"']?)(?P<key>" + _KEY + r")(?P=kq)"  # a whole key, maybe quoted
    r"(?P<sep>\s*[=:]\s*)"  # = or :
    r"(?P<vq>(?:b(?=[\"']))?[\"']?)"  # the value's quote (b'...' too), if any
    r"(?P<value>[^\"'&\s,;}\]>)]+)",  # the value, up to a delimiter
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,4}")
_SCHEME = re.compile(r"\b(Bearer|Basic|DPoP|Digest)\s+[A-Za-z0-9._~+/=,-]+", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(
    r"(?<![\w.+])\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}(?![\w.])"  # +86 138 ...
    r"|(?<![\w.])1[3-9]\d{9}(?![\w.])"  # a mainland China mobile number
    r"|(?<![\w.(])\(?\d{3}\)?[ .-]\d{3,4}[ .-]\d{4}(?![\w.])"  # (555) 123-4567, 010-1234-5678
)
_RANDOM = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{40,}"
    r"(?![A-Za-z0-9_-])"
)

REDACTED = "[redacted]"


def _pair(match: re.Match[str]) -> str:
    quote = match["kq"]
    return f"{quote}{match['key']}{quote}{match['sep']}{match['vq']}{REDACTED}"


def redact(text: str) -> str:
    """``text`` with everything token-like or personal replaced by a marker."""
    if not text:
        return text
    # Schemes first (``authorization: Bearer x`` keeps no part of x), then pairs, whose
    # values would otherwise start with a marker the later rules left.
    text = _SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _PAIR.sub(_pair, text)
    text = _JWT.sub("[jwt]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    return _RANDOM.sub("[secret]", text)


def redact_value(value: Any) -> Any:
    """A log field's value, redacted: strings, and the strings inside containers. A value
    under a sensitive key is dropped whole, whatever it is."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {str(k): _field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))


def _field(key: str, value: Any) -> Any:
    return REDACTED if is_sensitive(key) else redact_value(value)


def is_sensitive(key: str) -> bool:
    return key.lower() in _SENSITIVE


_SENSITIVE = frozenset(SENSITIVE_KEYS)
