"""The demo apps' HTML pieces: no open redirect, everything escaped, bounded summaries,
the SVG chart, CSRF tokens bound to a session, and the re-push that stops."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from examples.cast import PLATFORMS
from examples.chart import Bar, bar_chart
from examples.inbox import Inbox, short_type, summary
from examples.pages import csrf_ok, csrf_token, local_path
from examples.pusher import Pusher
from sdk import PushResult, SecurityEvent, ValueCounts


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("/events", "/events", id="a-path"),
        pytest.param("https://evil.example/", "/", id="absolute"),
        pytest.param("//evil.example", "/", id="scheme-relative"),
        pytest.param("/\\evil.example", "/", id="backslash"),
        pytest.param("/ok\\..", "/", id="backslash-inside"),
        pytest.param("/x\r\nSet-Cookie: a=b", "/", id="header-injection"),
        pytest.param("javascript:alert(1)", "/", id="script"),
        pytest.param("", "/", id="empty"),
        pytest.param(None, "/", id="none"),
        pytest.param("/" + "a" * 300, "/", id="too-long"),
    ],
)
def test_local_path_never_leaves_the_site(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


def test_csrf_tokens_are_bound_to_the_session() -> None:
    secret = b"k" * 32
    token = csrf_token(secret, "session-a")
    assert csrf_ok(secret, "session-a", token)
    assert not csrf_ok(secret, "session-b", token)
    assert not csrf_ok(secret, "session-a", None)
    assert not csrf_ok(b"j" * 32, "session-a", token)


def test_the_chart_escapes_labels_and_marks_suppressed_groups() -> None:
    svg = bar_chart(
        "sandbox-chart",
        "Persons <by> tier",
        [Bar("tier_1", 400), Bar("<script>x</script>", 100), Bar("hong_kong", None)],
    )
    assert svg.startswith('<svg id="sandbox-chart"') and svg.endswith("</svg>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "Persons &lt;by&gt; tier" in svg
    assert svg.count('<g class="bar"') == 3 and "suppressed</text>" in svg
    assert 'width="360"' in svg and 'width="90"' in svg  # lengths proportional to counts


def _event(payload: dict[str, Any], kind: str = "consent/withdrawn") -> SecurityEvent:
    return SecurityEvent(
        jti="j1",
        iss="http://127.0.0.1:8000",
        aud="plt_x",
        iat=1_795_624_532,
        sub_id={"format": "iss_sub", "iss": "http://127.0.0.1:8000", "sub": "<sub>"},
        events={f"https://schemas.accord.dev/secevent/{kind}": payload},
    )


def test_the_events_table_escapes_and_bounds_what_it_shows() -> None:
    inbox = Inbox(limit=2)
    inbox.add(_event({"purpose": "marketing.brand_view", "categories": ["a", "b"]}))
    inbox.add(_event({"purpose": "<b>" * 200, "state": "withdrawn"}))
    inbox.add(_event({"platform_user_id": "lumen-1001"}, "identity/link-added"))
    page = inbox.html(lambda e: "user <mia>")
    assert page.count('class="event"') == 2  # the oldest fell off
    assert "<b>" not in page and "&lt;sub&gt;" in page and "user &lt;mia&gt;" in page
    assert page.index("identity/link-added") < page.index("consent/withdrawn")  # newest first
    assert len(summary({"purpose": "x" * 1000})) == 240
    assert summary({"purpose": "p", "categories": [1, 2, 3]}) == "purpose=p, categories=3"
    assert short_type("urn:other") == "urn:other"


class _Gateway:
    """Drops everything until ``consented`` is set, then keeps it."""

    def __init__(self) -> None:
        self.consented = False
        self.pushes = 0

    async def push_attributes(
        self, records: Sequence[Mapping[str, Any]], *, idempotency_key: str
    ) -> PushResult:
        self.pushes += 1
        values = len(records[0]["attributes"])
        dropped = {"not_consented": 0 if self.consented else values}
        return PushResult(
            idempotency_key=idempotency_key,
            records=1,
            accepted=1,
            rejected=0,
            values=ValueCounts(stored=values if self.consented else 0, dropped=dropped),
            errors=[],
        )


def test_a_watched_user_is_pushed_again_until_the_gateway_keeps_the_profile() -> None:
    users = {u.account_id: u for u in PLATFORMS["social_shop"].users}
    gateway = _Gateway()

    async def scenario() -> None:
        pusher = Pusher(gateway, users, first_delay=0.01, max_delay=0.02, window=5)  # type: ignore[arg-type]
        task = asyncio.create_task(pusher.run())
        pusher.watch("lumen-1001")
        pusher.watch("not-a-demo-user")  # ignored: nothing of theirs to push
        await asyncio.sleep(0.2)
        assert pusher.watching() == ["lumen-1001"] and gateway.pushes > 3
        gateway.consented = True
        await asyncio.sleep(0.1)
        assert pusher.watching() == [] and pusher.last["lumen-1001"].kept_whole
        settled = gateway.pushes
        await asyncio.sleep(0.1)
        assert gateway.pushes == settled  # nothing more once kept
        task.cancel()

    asyncio.run(scenario())


def test_a_watch_ends_when_its_window_does() -> None:
    users = {u.account_id: u for u in PLATFORMS["notes"].users}
    gateway = _Gateway()

    async def scenario() -> None:
        pusher = Pusher(gateway, users, first_delay=0.01, max_delay=0.01, window=0.1)  # type: ignore[arg-type]
        task = asyncio.create_task(pusher.run())
        pusher.watch("ink-3001")
        await asyncio.sleep(0.4)
        assert pusher.watching() == [] and not pusher.last["ink-3001"].kept_whole
        task.cancel()

    asyncio.run(scenario())
