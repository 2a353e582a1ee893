"""The member registry: register, look up, list, disable and enable members.

Repositories never commit; the caller's transaction makes a registration all or
nothing (member, redirect URIs and purposes together).
"""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from consent.taxonomy import DataStandard, RecipientKind
from gateway.db import utcnow
from gateway.errors import Conflict, InvalidClientMetadata, NotFound
from gateway.members import rules
from gateway.members.models import (
    AuthMethod,
    Member,
    MemberKind,
    MemberPurpose,
    MemberRedirectURI,
    MemberStatus,
    SigningAlg,
)
from gateway.members.registration import Contact, MemberSpec, MemberView, Registration
from gateway.secret_hash import SecretHasher, new_secret

CLIENT_ID_PREFIX = {MemberKind.platform: "plt_", MemberKind.brand: "brd_"}


class Registry:
    def __init__(self, session: Session, standard: DataStandard, hasher: SecretHasher) -> None:
        self.session = session
        self.standard = standard
        self.hasher = hasher

    def register(self, kind: MemberKind, spec: MemberSpec) -> Registration:
        name = rules.check_name(spec.name)
        contact = spec.contact or Contact()
        rules.check_contact(contact.name, contact.email, contact.phone)
        if kind is MemberKind.platform and not spec.login_url:
            raise InvalidClientMetadata("a platform needs a login_url")
        if kind is MemberKind.brand and spec.login_url:
            raise InvalidClientMetadata("a brand has no login_url")
        redirect_uris = rules.check_redirect_uris(spec.redirect_uris)
        sector = rules.sector_of(redirect_uris, spec.sector)
        logout_uris = rules.check_logout_uris(spec.post_logout_redirect_uris)
        if spec.login_url:
            rules.check_url("login_url", spec.login_url, InvalidClientMetadata)
        if spec.events_endpoint:
            rules.check_url("events_endpoint", spec.events_endpoint, InvalidClientMetadata)
        jwks = rules.check_jwks(spec.jwks) if spec.jwks is not None else None
        method = spec.auth_method or (
            AuthMethod.private_key_jwt if jwks else AuthMethod.client_secret_basic
        )
        if method is AuthMethod.private_key_jwt and jwks is None:
            raise InvalidClientMetadata("private_key_jwt needs jwks")
        if method is AuthMethod.none and kind is MemberKind.platform:
            raise InvalidClientMetadata(
                "a platform answers sign-in challenges from its backend and needs a credential:"
                " auth_method none is for public clients (brands' apps) only"
            )
        purposes = rules.check_purposes(spec.purposes, RecipientKind(kind.value), self.standard)
        key = rules.name_key(name)
        if self._by_name_key(key) is not None:
            raise Conflict(f"a member named {name!r} already exists")

        secret = new_secret() if method.has_secret else None
        member = Member(
            id=str(uuid.uuid4()),
            kind=kind.value,
            name=name,
            name_key=key,
            client_id=CLIENT_ID_PREFIX[kind] + secrets.token_urlsafe(12),
            client_secret_hash=self.hasher.hash(secret) if secret else None,
            auth_method=method.value,
            contact_name=(contact.name or "").strip(),
            contact_email=(contact.email or "").strip(),
            contact_phone=contact.phone,
            contact_address=contact.address,
            sector=sector,
            post_logout_redirect_uris=logout_uris or None,
            login_url=spec.login_url,
            events_endpoint=spec.events_endpoint,
            jwks=jwks,
            signing_alg=spec.id_token_signed_response_alg.value,
            require_par=spec.require_pushed_authorization_requests,
        )
        self.session.add(member)
        self.session.add_all(
            MemberRedirectURI(member_id=member.id, uri=uri, position=index)
            for index, uri in enumerate(redirect_uris)
        )
        self.session.add_all(MemberPurpose(member_id=member.id, purpose=p) for p in purposes)
        try:
            self.session.flush()
        except IntegrityError:
            # Lost a race with a concurrent registration of the same name.
            raise Conflict(f"a member named {name!r} already exists") from None
        return Registration(**self._view(member).model_dump(), client_secret=secret)

    def get(self, kind: MemberKind, ref: str) -> MemberView:
        return self._view(self.find(kind, ref))

    def list(self, kind: MemberKind, status: MemberStatus | None = None) -> list[MemberView]:
        query = select(Member).where(Member.kind == kind.value)
        if status is not None:
            query = query.where(Member.status == status.value)
        members = self.session.exec(query.order_by(col(Member.created_at), col(Member.name)))
        return [self._view(m) for m in members]

    def set_status(self, kind: MemberKind, ref: str, status: MemberStatus) -> MemberView:
        member = self.find(kind, ref)
        if member.status != status.value:
            member.status = status.value
            member.disabled_at = utcnow() if status is MemberStatus.disabled else None
            self.session.add(member)
            self.session.flush()
        return self._view(member)

    def find(self, kind: MemberKind, ref: str) -> Member:
        """By id, client id or name."""
        member = self.session.get(Member, ref) if _looks_like_uuid(ref) else None
        if member is None:
            member = self.session.exec(select(Member).where(Member.client_id == ref)).first()
        if member is None:
            member = self._by_name_key(rules.name_key(ref))
        if member is None or member.kind != kind.value:
            raise NotFound(f"no {kind.value} {ref!r}")
        return member

    def _by_name_key(self, key: str) -> Member | None:
        return self.session.exec(select(Member).where(Member.name_key == key)).first()

    def _view(self, member: Member) -> MemberView:
        uris = self.session.exec(
            select(MemberRedirectURI.uri)
            .where(MemberRedirectURI.member_id == member.id)
            .order_by(col(MemberRedirectURI.position))
        ).all()
        purposes = self.session.exec(
            select(MemberPurpose.purpose)
            .where(MemberPurpose.member_id == member.id)
            .order_by(col(MemberPurpose.purpose))
        ).all()
        return MemberView(
            id=member.id,
            kind=MemberKind(member.kind),
            name=member.name,
            client_id=member.client_id,
            auth_method=AuthMethod(member.auth_method),
            contact=Contact(
                name=member.contact_name,
                email=member.contact_email,
                phone=member.contact_phone,
                address=member.contact_address,
            ),
            redirect_uris=list(uris),
            post_logout_redirect_uris=list(member.post_logout_redirect_uris or []),
            sector=member.sector,
            login_url=member.login_url,
            events_endpoint=member.events_endpoint,
            jwks=member.jwks,
            purposes=list(purposes),
            id_token_signed_response_alg=SigningAlg(member.signing_alg),
            require_pushed_authorization_requests=member.require_par,
            status=MemberStatus(member.status),
            created_at=member.created_at,
            disabled_at=member.disabled_at,
        )


def _looks_like_uuid(ref: str) -> bool:
    try:
        uuid.UUID(ref)
    except ValueError:
        return False
    return True
