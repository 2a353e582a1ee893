"""Registration specs shared by the API and CLI tests."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm


def ec_jwk(kid: str = "k1", *, private: bool = False) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key if private else key.public_key()))
    jwk.update(kid=kid, alg="ES256", use="sig")
    return jwk


def platform_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "Redleaf Social Shop",
        "contact": {
            "name": "Li Wei, DPO",
            "email": "dpo@redleaf.example",
            "phone": "+86 21 5555 0100",
        },
        "redirect_uris": ["https://redleaf.example/auth/callback"],
        "login_url": "https://redleaf.example/accord/login",
        "events_endpoint": "https://redleaf.example/accord/events",
        "purposes": ["identity.sso", "personalize.content"],
    }
    spec.update(overrides)
    return spec


def brand_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "Aurora Cosmetics",
        "contact": {"name": "Chen Jing", "email": "privacy@aurora.example"},
        "redirect_uris": ["https://aurora.example/cb", "https://aurora.example/cb2"],
        "purposes": ["marketing.brand_view"],
    }
    spec.update(overrides)
    return spec


# (kind, spec, status, error code, message fragment)
REFUSALS: list[tuple[str, str, dict[str, Any], int, str, str]] = [
    (
        "http-redirect",
        "platforms",
        platform_spec(redirect_uris=["http://redleaf.example/cb"]),
        400,
        "invalid_redirect_uri",
        "redirect_uri must use https (http only for localhost)",
    ),
    (
        "fragment",
        "brands",
        brand_spec(redirect_uris=["https://aurora.example/cb#x"]),
        400,
        "invalid_redirect_uri",
        "must not have a fragment",
    ),
    (
        "wildcard",
        "brands",
        brand_spec(redirect_uris=["https://*.aurora.example/cb"]),
        400,
        "invalid_redirect_uri",
        "must not contain spaces or wildcards",
    ),
    (
        "credentials-in-uri",
        "brands",
        brand_spec(redirect_uris=["https://user:pw@aurora.example/cb"]),
        400,
        "invalid_redirect_uri",
        "must not carry credentials",
    ),
    (
        "custom-scheme",
        "brands",
        brand_spec(redirect_uris=["com.aurora.app:/cb"]),
        400,
        "invalid_redirect_uri",
        "must be an absolute URL",
    ),
    (
        "relative",
        "brands",
        brand_spec(redirect_uris=["/cb"]),
        400,
        "invalid_redirect_uri",
        "must be an absolute URL",
    ),
    (
        "no-redirect",
        "brands",
        brand_spec(redirect_uris=[]),
        400,
        "invalid_redirect_uri",
        "at least one redirect URI is required",
    ),
    (
        "missing-contact",
        "brands",
        brand_spec(contact=None),
        400,
        "invalid_client_metadata",
        "contact.name is required (PIPL Art. 23)",
    ),
    (
        "missing-contact-email",
        "platforms",
        platform_spec(contact={"name": "Li Wei"}),
        400,
        "invalid_client_metadata",
        "contact.email is required (PIPL Art. 23)",
    ),
    (
        "bad-contact-email",
        "platforms",
        platform_spec(contact={"name": "Li Wei", "email": "li wei at redleaf"}),
        400,
        "invalid_client_metadata",
        "contact.email is not an email address",
    ),
    (
        "platform-without-login",
        "platforms",
        platform_spec(login_url=None),
        400,
        "invalid_client_metadata",
        "a platform needs a login_url",
    ),
    (
        "http-login-url",
        "platforms",
        platform_spec(login_url="http://redleaf.example/login"),
        400,
        "invalid_client_metadata",
        "login_url must use https",
    ),
    (
        "unknown-purpose",
        "brands",
        brand_spec(purposes=["marketing.everything"]),
        400,
        "invalid_client_metadata",
        "purpose 'marketing.everything' is not in the data standard",
    ),
    (
        "purpose-not-for-brands",
        "brands",
        brand_spec(purposes=["personalize.content"]),
        400,
        "invalid_client_metadata",
        "purpose 'personalize.content' is not open to a brand",
    ),
    (
        "private-key-in-jwks",
        "platforms",
        platform_spec(jwks={"keys": [ec_jwk(private=True)]}),
        400,
        "invalid_client_metadata",
        "jwks.keys[0] holds private or symmetric key material",
    ),
    (
        "repeated-kid",
        "platforms",
        platform_spec(jwks={"keys": [ec_jwk("a"), ec_jwk("a")]}),
        400,
        "invalid_client_metadata",
        "kid 'a' repeats",
    ),
    (
        "private-key-jwt-without-keys",
        "platforms",
        platform_spec(auth_method="private_key_jwt"),
        400,
        "invalid_client_metadata",
        "private_key_jwt needs jwks",
    ),
    (
        "several-hosts-no-sector",
        "brands",
        brand_spec(redirect_uris=["https://a.aurora.example/cb", "https://b.aurora.example/cb"]),
        400,
        "invalid_client_metadata",
        "redirect URIs span several hosts",
    ),
]
