"""Running the gateway under uvicorn: in the foreground (``accord serve``) or in a
background thread on an ephemeral port (tests, benchmarks, demos)."""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

YOUNG_COLLECTION = 50_000  # net allocations between young collections (CPython: 700)
# glibc's malloc: blocks up to MMAP_THRESHOLD come from its heaps (not a fresh mmap each),
# and a heap gives memory back to the system only past TRIM_THRESHOLD of free space.
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc caps it at half its heap size (64 MiB)
TRIM_THRESHOLD = 256 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt(3) parameters


def settle_heap() -> None:
    """Tune the collector for serving, once start-up is done.

    What start-up built lives as long as the process, so it is frozen out of every
    later collection. And the young generation is collected every 50,000 net
    allocations, not 700: a batch of 1,000 views holds some 100,000 objects alive while
    it is built, and at 700 they were promoted to the old generation, whose full
    collections then walked them: pauses of 100-700 ms, one batch in five
    (docs/benchmarks.md). Garbage without cycles is freed by reference counting either
    way; only cycles wait longer.

    And freed memory is kept for reuse (:func:`keep_freed_memory`)."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, 10, 10)
    keep_freed_memory()


def keep_freed_memory() -> bool:
    """Have glibc's malloc reuse freed memory instead of handing it back to the system.

    By default a block of 128 KiB or more is a fresh mmap, unmapped when freed: every
    page of it is faulted in anew on first touch, which on this kind of virtual
    machine costs about 2.5 µs per 4 KiB page. A batch of views builds and sends
    answers of 7-8 MB in a few such blocks: 4-6 ms for each copy, against 0.4 ms in
    memory already mapped (docs/benchmarks.md). With the thresholds raised, such
    blocks come from malloc's heaps and stay mapped once freed, up to TRIM_THRESHOLD
    of free space per heap: a worker keeps the memory its busiest moment needed.
    Whether the C library took the settings (False elsewhere than glibc)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def _server(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # uvicorn's lines go to the process's handlers (logs.install)
        access_log=False,  # the request edge writes its own, without query strings
        server_header=False,
        ws="none",  # the gateway has no WebSocket routes
    )
    return uvicorn.Server(config)


def run(
    app: FastAPI,
    host: str,
    port: int,
    *,
    log_level: str = "info",
    on_started: Callable[[], None] | None = None,
) -> None:
    """Serve until interrupted; ``on_started`` runs once the socket accepts connections."""
    server = _server(app, host, port, log_level)
    settle_heap()
    if on_started is not None:

        def announce() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                on_started()

        threading.Thread(target=announce, daemon=True).start()
    server.run()


@contextmanager
def in_thread(app: FastAPI, *, timeout: float = 10.0, log_level: str = "warning") -> Iterator[str]:
    """Serve on 127.0.0.1 on a free port in a thread; yield the base URL, stop on exit."""
    server = _server(app, "127.0.0.1", 0, log_level)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
