"""``accord demo up`` started as a newcomer starts it (a fresh folder and database), on
free ports, until its banner is printed: for the launcher's test and the browser's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BANNER_WITHIN = 120.0  # seconds: migrate, seed 1,500 persons, start four apps


def free_block(size: int) -> int:
    """A base port whose next ``size`` ports are all free now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base: int = probe.getsockname()[1]
        if base + size >= 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no block of free ports")


def start_demo(tmp_path: Path, *, make: bool = False) -> tuple[subprocess.Popen[str], str, int]:
    """``accord demo up`` (from ``tmp_path``), or with ``make`` the README's ``make run``
    in the checkout; its process (a session of its own), its output up to the banner's
    end, and the gateway's port (the apps' follow it)."""
    base = free_block(5)  # the gateway, then the four apps
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCORD_", "DEMO_", "MAKE"))}
    env |= {
        "ACCORD_ENV": "development",
        "ACCORD_PORT": str(base),
        "ACCORD_ISSUER": f"http://127.0.0.1:{base}",
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
        "ACCORD_KEY_DIR": str(tmp_path / "keys"),
        "ACCORD_ACCESS_LOG": "false",
        "DEMO_BASE_PORT": str(base + 1),
    }
    accord = str(Path(sys.executable).parent / "accord")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"] if make else [accord, "demo", "up"],
        cwd=ROOT if make else tmp_path,  # accord: the launcher finds examples/ by itself
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + BANNER_WITHIN
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if line.startswith("Press Ctrl+C to stop."):
            break
    return process, "".join(lines), base
