"""``accord demo up`` as a newcomer runs it (a fresh folder and database), on free ports:
every URL its banner prints answers 200, and stopping it leaves no process behind, even
when the launcher itself is killed outright."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.examples.launch import free_block, start_demo

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"https?://127\.0\.0\.1:\d+[^\s;,]*")


def _children(pid: int) -> list[int]:
    found = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) no longer runs.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def _gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_demo_up_serves_every_printed_url_and_stops_cleanly(tmp_path: Path) -> None:
    process, banner, base = start_demo(tmp_path)
    try:
        assert "Accord is running. Open:" in banner, banner
        assert "NOT RUNNING" not in banner, banner
        assert "users: mia, leo, ava, kai" in banner and "password: accord-demo" in banner
        urls = sorted(set(URL.findall(banner.split("Accord is running. Open:")[1])))
        apps = [f"http://127.0.0.1:{base + n}/" for n in range(1, 5)]
        assert set(apps) <= set(urls) and f"http://127.0.0.1:{base}/center" in urls
        headers = {"Authorization": "Bearer development-only-operator-token-do-not-deploy-00"}
        for url in urls:
            response = httpx.get(url, headers=headers if "/admin/" in url else None, timeout=10)
            assert response.status_code == 200, (url, response.text[:300])
        # The brand's sandbox over the seeded population: every city tier clears the
        # suppression threshold.
        sandbox = httpx.get(f"http://127.0.0.1:{base + 4}/sandbox", timeout=10).text
        assert '<svg id="sandbox-chart"' in sandbox and 'id="budget-remaining">9.5<' in sandbox
        assert sandbox.count('<g class="bar"') == 6 and "suppressed</text>" not in sandbox
        children = _children(process.pid)
        assert len(children) == 4, children
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert _gone(children, within=5), [p for p in children if _alive(p)]
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing of the group is left


def test_an_app_stops_by_itself_when_its_launcher_is_killed(tmp_path: Path) -> None:
    """The parent here stands for ``accord demo up`` killed outright (no gateway needed:
    the app serves while its stream setup keeps retrying)."""
    port = free_block(1)
    credentials = tmp_path / "brand.json"
    credentials.write_text(
        json.dumps(
            {
                "name": "Aurora Cosmetics",
                "kind": "brand",
                "client_id": "brd_test",
                "client_secret": "s" * 43,
                "base_url": f"http://127.0.0.1:{port}",
                "issuer": "http://127.0.0.1:9",  # nothing answers there
            }
        )
    )
    launcher = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-m', 'examples.brand', sys.argv[1],"
        " '--watch-parent'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", launcher, str(credentials)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 30
        while True:  # the app serves: its home page answers
            try:
                if httpx.get(f"http://127.0.0.1:{port}/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and _alive(child), "the app did not start"
            time.sleep(0.1)
        parent.kill()  # no chance to stop its child
        parent.wait(timeout=10)
        assert _gone([child], within=5)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
