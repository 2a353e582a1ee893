"""The demo alliance `make run` seeds: three platforms and one brand on localhost.

Platforms authenticate with ``private_key_jwt`` (keys generated here), the brand with
``client_secret_basic``; their credentials are written under ``var/demo/`` for the
example apps. Development only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from gateway.identity.hints import has_salt, hints_of
from gateway.keys import new_private_jwk, public_part, write_private
from gateway.members import rules
from gateway.members.models import Member, MemberKind
from gateway.members.registration import Contact, MemberSpec
from gateway.members.registry import Registry
from gateway.runtime import Runtime


@dataclass(frozen=True)
class DemoMember:
    slug: str
    kind: MemberKind
    name: str
    port: int
    sector: str
    purposes: tuple[str, ...]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


DEMO_ALLIANCE: tuple[DemoMember, ...] = (
    DemoMember(
        "social_shop",
        MemberKind.platform,
        "Lumen Social Shop",
        8101,
        "social-shop.demo.accord.test",
        (
            "identity.linking",
            "identity.sso",
            "personalize.content",
            "train_ai_system.profile_model",
        ),
    ),
    DemoMember(
        "video_mall",
        MemberKind.platform,
        "Pulse Video Mall",
        8102,
        "video-mall.demo.accord.test",
        (
            "identity.linking",
            "identity.sso",
            "personalize.content",
            "train_ai_system.profile_model",
        ),
    ),
    DemoMember(
        "notes",
        MemberKind.platform,
        "Inkwell Notes",
        8103,
        "notes.demo.accord.test",
        (
            "identity.linking",
            "identity.sso",
            "personalize.content",
            "train_ai_system.profile_model",
        ),
    ),
    DemoMember(
        "brand",
        MemberKind.brand,
        "Aurora Cosmetics",
        8201,
        "aurora.demo.accord.test",
        ("identity.sso", "marketing.brand_view", "analytics.aggregate"),
    ),
)


def demo_dir(rt: Runtime) -> Path:
    return rt.settings.key_dir.parent / "demo"


def _new_key(slug: str) -> tuple[dict[str, Any], dict[str, Any]]:
    private_jwk = {**new_private_jwk("ES256"), "kid": f"{slug}-1", "alg": "ES256", "use": "sig"}
    return private_jwk, public_part(private_jwk)


def seed(session: Session, rt: Runtime) -> list[str]:
    """Register the demo members that are missing; return what was done, line by line."""
    registry = Registry(session, rt.standard, rt.hasher)
    out = demo_dir(rt)
    done: list[str] = []
    for demo in DEMO_ALLIANCE:
        key = rules.name_key(demo.name)
        if session.exec(select(Member).where(Member.name_key == key)).first() is not None:
            done.append(f"{demo.kind.value} {demo.name!r} already registered")
            continue
        private_jwk: dict[str, Any] | None = None
        jwks = None
        if demo.kind is MemberKind.platform:
            private_jwk, public_jwk = _new_key(demo.slug)
            jwks = {"keys": [public_jwk]}
        spec = MemberSpec(
            name=demo.name,
            contact=Contact(
                name=f"{demo.name} data protection officer",
                email=f"dpo@{demo.sector}",
                phone="+86 10 0000 0000",
            ),
            redirect_uris=[f"{demo.base_url}/auth/callback"],
            sector=demo.sector,
            login_url=f"{demo.base_url}/accord/login" if demo.kind is MemberKind.platform else None,
            events_endpoint=f"{demo.base_url}/accord/events",
            jwks=jwks,
            purposes=list(demo.purposes),
        )
        registration = registry.register(demo.kind, spec)
        credentials: dict[str, Any] = {
            "name": demo.name,
            "kind": demo.kind.value,
            "client_id": registration.client_id,
            "base_url": demo.base_url,
            "issuer": rt.settings.issuer,
        }
        if registration.client_secret:
            credentials["client_secret"] = registration.client_secret
        if private_jwk:
            credentials["private_jwk"] = private_jwk
        write_private(out / f"{demo.slug}.json", credentials)
        done.append(f"registered {demo.kind.value} {demo.name!r} ({registration.client_id})")
    if not has_salt(session):
        version = hints_of(session, rt).rotate()
        done.append(f"issued alliance salt version {version.version} (link hints)")
    return done
