"""Running one example app as its own process: ``python -m examples.platform FILE`` or
``python -m examples.brand FILE``, where FILE is the app's credentials file.

``--watch-parent`` (the launcher passes it) makes the app stop when the process that
started it is gone, even if that one was killed outright and could not stop its
children: no demo app outlives ``accord demo up``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from examples.credentials import Credentials, CredentialsError, load

PARENT_CHECK_EVERY = 0.5  # seconds


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_EVERY)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down on it, as on Ctrl+C


def run(app: FastAPI, credentials: Credentials, *, watch_parent: bool = False) -> None:
    if watch_parent:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    config = uvicorn.Config(
        app,
        host=credentials.host,
        port=credentials.port,
        log_level="warning",  # quiet beside the gateway's own lines: warnings and errors only
        access_log=False,
        server_header=False,
        ws="none",
        lifespan="on",
    )
    uvicorn.Server(config).run()


def main(kind: str, build: Callable[[Credentials], FastAPI], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m examples.{kind}")
    parser.add_argument("credentials", type=Path, help="var/demo/<slug>.json")
    parser.add_argument("--watch-parent", action="store_true", help="stop when the parent does")
    args = parser.parse_args(argv)
    try:
        credentials = load(args.credentials)
        if credentials.kind != kind:
            raise CredentialsError(f"{args.credentials} is a {credentials.kind}'s, not a {kind}'s")
        app = build(credentials)
    except CredentialsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run(app, credentials, watch_parent=args.watch_parent)
    return 0
