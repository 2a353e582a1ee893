"""The demo alliance's members: who they are (ports, purposes), their registration and
credentials under ``var/demo/``, the alliance salt and the brand's sandbox budget.
Development only."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, select

from consent.budget import Cap, Period
from gateway.budget.store import SqlBudgetStore
from gateway.db import core
from gateway.identity.hints import has_salt, hints_of
from gateway.keys import new_private_jwk, public_part, write_private
from gateway.members import rules
from gateway.members.models import Member, MemberKind, MemberRedirectURI
from gateway.members.registration import Contact, MemberSpec
from gateway.members.registry import Registry
from gateway.runtime import Runtime
from gateway.sandbox.service import population as budget_population
from gateway.secret_hash import new_secret

BASE_PORT_VARIABLE = "DEMO_BASE_PORT"  # not ACCORD_*: the settings refuse unknown names


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

    @property
    def module(self) -> str:
        """The app's module: ``python -m examples.<module> FILE``."""
        return "examples.platform" if self.kind is MemberKind.platform else "examples.brand"


_PLATFORM_PURPOSES = (
    "identity.linking",
    "identity.sso",
    "personalize.content",
    "train_ai_system.profile_model",
)
DEMO_ALLIANCE: tuple[DemoMember, ...] = (
    DemoMember(
        "social_shop",
        MemberKind.platform,
        "Lumen Social Shop",
        8101,
        "social-shop.demo.accord.test",
        _PLATFORM_PURPOSES,
    ),
    DemoMember(
        "video_mall",
        MemberKind.platform,
        "Pulse Video Mall",
        8102,
        "video-mall.demo.accord.test",
        _PLATFORM_PURPOSES,
    ),
    DemoMember(
        "notes",
        MemberKind.platform,
        "Inkwell Notes",
        8103,
        "notes.demo.accord.test",
        _PLATFORM_PURPOSES,
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


class DemoError(ValueError):
    """A demo setting or state the demo cannot work with; the message says what to do."""


def alliance(environ: Mapping[str, str] | None = None) -> tuple[DemoMember, ...]:
    """The demo members, on ``DEMO_BASE_PORT``, ``+1``, ... when it is set (so a test can
    run a whole alliance on free ports), else on their own ports (8101-8103, 8201)."""
    raw = (os.environ if environ is None else environ).get(BASE_PORT_VARIABLE, "").strip()
    if not raw:
        return DEMO_ALLIANCE
    try:
        base = int(raw)
    except ValueError:
        raise DemoError(f"{BASE_PORT_VARIABLE} must be a port number, not {raw!r}") from None
    if not 1024 <= base <= 65535 - len(DEMO_ALLIANCE):
        raise DemoError(f"{BASE_PORT_VARIABLE} must be between 1024 and {65535 - 4}")
    return tuple(replace(m, port=base + n) for n, m in enumerate(DEMO_ALLIANCE))


def demo_dir(rt: Runtime) -> Path:
    return rt.settings.key_dir.parent / "demo"


# --- the members ---------------------------------------------------------------------------


def _new_key(slug: str) -> tuple[dict[str, Any], dict[str, Any]]:
    private_jwk = {**new_private_jwk("ES256"), "kid": f"{slug}-1", "alg": "ES256", "use": "sig"}
    return private_jwk, public_part(private_jwk)


def _spec(demo: DemoMember, jwks: dict[str, Any] | None) -> MemberSpec:
    return MemberSpec(
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


def _readable(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _update(session: Session, rt: Runtime, member: Member, demo: DemoMember, path: Path) -> str:
    """Bring a registered member in line with ``demo``: its URLs, and credentials when
    its file is gone (a new key or secret: the old one is lost with the file)."""
    spec = _spec(demo, None)
    changed = []
    if (member.login_url, member.events_endpoint) != (spec.login_url, spec.events_endpoint):
        member.login_url, member.events_endpoint = spec.login_url, spec.events_endpoint
        redirects = core(MemberRedirectURI)
        session.execute(delete(redirects).where(redirects.c.member_id == member.id))
        session.add(MemberRedirectURI(member_id=member.id, uri=spec.redirect_uris[0], position=0))
        changed.append(f"moved to {demo.base_url}")
    credentials = _readable(path)
    secret: dict[str, Any] = {}
    if credentials is None or credentials.get("client_id") != member.client_id:
        if demo.kind is MemberKind.platform:
            private_jwk, public_jwk = _new_key(demo.slug)
            member.jwks = {"keys": [public_jwk]}
            secret = {"private_jwk": private_jwk}
        else:
            client_secret = new_secret()
            member.client_secret_hash = rt.hasher.hash(client_secret)
            secret = {"client_secret": client_secret}
        changed.append("new credentials (its file was missing)")
    else:
        secret = {k: credentials[k] for k in ("private_jwk", "client_secret") if k in credentials}
    session.add(member)
    session.flush()
    _write_credentials(rt, path, demo, member.client_id, secret)
    what = "; ".join(changed) if changed else "already registered"
    return f"{demo.kind.value} {demo.name!r} {what}"


def _write_credentials(
    rt: Runtime, path: Path, demo: DemoMember, client_id: str, secret: dict[str, Any]
) -> None:
    write_private(
        path,
        {
            "name": demo.name,
            "kind": demo.kind.value,
            "client_id": client_id,
            "base_url": demo.base_url,
            "issuer": rt.settings.issuer,
            **secret,
        },
    )


def seed(session: Session, rt: Runtime, members: Sequence[DemoMember] = DEMO_ALLIANCE) -> list[str]:
    """Register the demo members that are missing (and update the others); return what
    was done, line by line."""
    registry = Registry(session, rt.standard, rt.hasher)
    out = demo_dir(rt)
    done: list[str] = []
    listing = []
    for demo in members:
        path = out / f"{demo.slug}.json"
        key = rules.name_key(demo.name)
        member = session.exec(select(Member).where(Member.name_key == key)).first()
        if member is not None:
            done.append(_update(session, rt, member, demo, path))
            client_id = member.client_id
        else:
            private_jwk: dict[str, Any] | None = None
            jwks = None
            if demo.kind is MemberKind.platform:
                private_jwk, public_jwk = _new_key(demo.slug)
                jwks = {"keys": [public_jwk]}
            registration = registry.register(demo.kind, _spec(demo, jwks))
            secret: dict[str, Any] = {}
            if registration.client_secret:
                secret["client_secret"] = registration.client_secret
            if private_jwk:
                secret["private_jwk"] = private_jwk
            client_id = registration.client_id
            _write_credentials(rt, path, demo, client_id, secret)
            done.append(f"registered {demo.kind.value} {demo.name!r} ({client_id})")
        listing.append(
            {
                "slug": demo.slug,
                "name": demo.name,
                "kind": demo.kind.value,
                "client_id": client_id,
                "base_url": demo.base_url,
            }
        )
    # The alliance's public directory: names, client ids and URLs, nothing secret.
    directory = {"issuer": rt.settings.issuer, "members": listing}
    (out / "alliance.json").write_text(json.dumps(directory, indent=2) + "\n", encoding="utf-8")
    if not has_salt(session):
        version = hints_of(session, rt).rotate()
        done.append(f"issued alliance salt version {version.version} (link hints)")
    brand = next((d for d in members if d.kind is MemberKind.brand), None)
    if brand is not None:
        key = rules.name_key(brand.name)
        done.append(
            _budget(session, session.exec(select(Member).where(Member.name_key == key)).one())
        )
    return done


# --- the synthetic population ---------------------------------------------------------------


BRAND_BUDGET = 10.0  # ε per month for the demo brand's sandbox


def _budget(session: Session, brand: Member) -> str:
    store = SqlBudgetStore(session)
    population = budget_population(brand)
    if store.cap(population) is not None:
        return f"{brand.name!r} already has a sandbox budget"
    store.set_cap(Cap(population, Period.month, BRAND_BUDGET, 0.0))
    return f"set {brand.name!r}'s sandbox budget: ε {BRAND_BUDGET:g} per month"


# --- the launcher ---------------------------------------------------------------------------
