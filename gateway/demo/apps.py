"""The launcher of the demo members' own apps (``python -m examples.platform|brand
FILE``), each its own process: the gateway never imports ``examples``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.demo.members import DemoMember
from gateway.members.models import MemberKind

READY_TIMEOUT = 60.0  # seconds for every app to answer its /healthz
STOP_TIMEOUT = 10.0  # seconds for the apps to stop after SIGTERM, before SIGKILL


def examples_root() -> Path | None:
    """The checkout holding ``examples/`` (an editable install), or None (a wheel)."""
    root = Path(__file__).resolve().parents[2]  # gateway/demo/apps.py -> the checkout
    return root if (root / "examples" / "__init__.py").is_file() else None


@dataclass
class _App:
    member: DemoMember
    process: subprocess.Popen[bytes] | None = None
    health: dict[str, Any] | None = None
    problem: str | None = None


class DemoApps:
    """The members' apps, one process each, started and stopped with the gateway.

    Each app is ``python -m examples.<module> <credentials> --watch-parent``: it stops by
    itself if this process disappears without stopping it."""

    def __init__(
        self, members: Sequence[DemoMember], folder: Path, *, root: Path | None = None
    ) -> None:
        self.apps = [_App(m) for m in members]
        self.folder = folder
        self.root = root if root is not None else examples_root()
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        env = dict(os.environ)
        if self.root is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.root), env.get("PYTHONPATH", "")) if p
            )
        with self._lock:
            for app in self.apps:
                if self._stopped:
                    return
                if self.root is None:
                    app.problem = "not installed here (no examples/ beside the gateway)"
                    continue
                command = [
                    sys.executable,
                    "-m",
                    app.member.module,
                    str(self.folder / f"{app.member.slug}.json"),
                    "--watch-parent",
                ]
                app.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    command, cwd=self.root, env=env, stdin=subprocess.DEVNULL
                )

    def wait(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every started app answers ``/healthz`` with 200 (or gives up)."""
        deadline = time.monotonic() + timeout
        waiting = [a for a in self.apps if a.process is not None]
        with httpx.Client(timeout=2.0) as client:
            while waiting and not self._stopped:
                for app in list(waiting):
                    if self._ready(client, app):
                        waiting.remove(app)
                if waiting and time.monotonic() > deadline:
                    for app in waiting:
                        app.problem = f"did not answer within {timeout:.0f} s ({app.problem})"
                    return
                time.sleep(0.2)

    def _ready(self, client: httpx.Client, app: _App) -> bool:
        status = app.process.poll() if app.process is not None else -1
        if status is not None:
            app.problem = f"exited with status {status} (is port {app.member.port} in use?)"
            return True
        try:
            response = client.get(f"{app.member.base_url}/healthz")
        except httpx.HTTPError as exc:
            app.problem = f"not answering yet: {type(exc).__name__}"
            return False
        if response.status_code == 200:
            app.health, app.problem = response.json(), None
            return True
        app.problem = str(response.json().get("stream") if response.content else response)
        return False

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every app, then SIGKILL whichever is still running after ``timeout``."""
        with self._lock:
            self._stopped = True
            running = [a.process for a in self.apps if a.process and a.process.poll() is None]
            for process in running:
                process.terminate()
            deadline = time.monotonic() + timeout
            for process in running:
                try:
                    process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def lines(self) -> list[str]:
        """The banner's lines for the apps: where each is, and who may sign in there."""
        out = []
        password = None
        for app in self.apps:
            member = app.member
            where = f"  {member.kind.value:<9} {member.name:<18} {member.base_url}/"
            if app.problem is not None or app.health is None:
                out.append(f"{where}  NOT RUNNING: {app.problem or 'not started'}")
            elif member.kind is MemberKind.platform:
                users = ", ".join(str(u) for u in app.health.get("users", []))
                password = app.health.get("password", password)
                out.append(f"{where}  users: {users}")
            else:
                out.append(f"{where}  Sign in with Accord; sandbox: {member.base_url}/sandbox")
        if password:
            out.append(f"  every demo user's password: {password}")
        return out
