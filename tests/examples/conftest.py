"""A live demo alliance on 127.0.0.1: the gateway served in a thread, seeded as
``accord demo seed`` seeds it (on free ports), and the demo apps (``examples``) served
in threads beside it, each with its SET stream set up."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from consent.taxonomy import DataStandard
from examples import brand as brand_app
from examples import platform as platform_app
from examples.credentials import load
from gateway import migrate
from gateway.app import create_app
from gateway.db import make_engine, transaction
from gateway.demo import DEMO_ALLIANCE, DemoMember, demo_dir, seed, seed_population
from gateway.members.models import Member
from gateway.runtime import Runtime
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.e2e.live import free_port, serving

HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
READY_WITHIN = 15.0


def hidden(page: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in HIDDEN.findall(page)}


@dataclass
class LiveDemo:
    issuer: str
    settings: Settings
    runtime: Runtime
    members: tuple[DemoMember, ...]
    folder: Path

    def url(self, slug: str) -> str:
        return next(m.base_url for m in self.members if m.slug == slug)

    def member_id(self, slug: str) -> str:
        name = next(m.name for m in self.members if m.slug == slug)
        with Session(self.runtime.engine) as session:
            return session.exec(select(Member).where(Member.name == name)).one().id

    def populate(self) -> None:
        with transaction(self.runtime.sessions) as session:
            seed_population(session, self.runtime, self.members)

    def wait_for(self, url: str, text: str, timeout: float = 15.0, **kwargs: Any) -> str:
        """GET ``url`` until its page contains ``text``; the page."""
        deadline = time.monotonic() + timeout
        while True:
            page = httpx.get(url, **kwargs).text
            if text in page:
                return page
            assert time.monotonic() < deadline, f"{text!r} never appeared at {url}:\n{page}"
            time.sleep(0.2)


def _ready(url: str) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while httpx.get(f"{url}/healthz").status_code != 200:
        assert time.monotonic() < deadline, httpx.get(f"{url}/healthz").text
        time.sleep(0.05)


@pytest.fixture
def live_demo(tmp_path: Path, standard: DataStandard) -> Iterator[LiveDemo]:
    gateway_port = free_port()
    issuer = f"http://127.0.0.1:{gateway_port}"
    settings = make_settings(tmp_path, issuer=issuer, events_interval=0.1)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    runtime = Runtime.build(settings, engine=engine, standard=standard)
    members = tuple(replace(m, port=free_port()) for m in DEMO_ALLIANCE)
    with transaction(runtime.sessions) as session:
        seed(session, runtime, members)
    folder = demo_dir(runtime)
    with serving(create_app(settings, runtime=runtime), gateway_port), ExitStack() as apps:
        for member in members:
            credentials = load(folder / f"{member.slug}.json")
            build = platform_app.build if credentials.kind == "platform" else brand_app.build
            apps.enter_context(serving(build(credentials), member.port))
        for member in members:
            _ready(member.base_url)
        yield LiveDemo(issuer, settings, runtime, members, folder)
    runtime.close()
    engine.dispose()
