"""Serving on several worker processes, each with a listening socket of its own.

uvicorn's ``--workers`` shares one listening socket among its workers. Whichever worker
wakes first accepts a burst of connections, so with keep-alive clients one worker can
hold most of them while the other idles: 25 against 7 of 32 connections, measured under
the token benchmark (docs/benchmarks.md). Here each worker binds a socket of its own to
the same address with ``SO_REUSEPORT``, and the kernel spreads new connections over the
sockets by a hash of their addresses.

The supervisor starts ``count`` workers and restarts one that dies. On SIGINT or SIGTERM
it stops them all; each finishes its requests in flight, as uvicorn does. A worker that
dies within :data:`EARLY` seconds of the first start (the settings are wrong) stops the
whole server instead of being restarted forever; later restarts back off. The port must
be free when the server starts: it is probed once without ``SO_REUSEPORT``, since the
workers' sockets would otherwise share it silently with any process of the same user
(run Accord as a user of its own).

Metrics: each worker counts in prometheus-client's multiprocess mode, in a directory the
supervisor makes for the run and removes after it (gateway.observability.multiprocess),
so a scrape of ``/metrics``, whichever worker answers it, adds up all of them.

A worker whose supervisor is gone (killed outright) stops within a second. Linux lets
only processes of the same user share the port. A worker that dies loses the
connections still waiting in its own accept queue; their clients retry.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

import uvicorn
from prometheus_client.multiprocess import mark_process_dead

from gateway.app import create_app_from_env
from gateway.observability.multiprocess import run_directory

log = logging.getLogger("accord.workers")

EARLY = 5.0  # seconds: a worker dying sooner did not start at all
STOP_SECONDS = 30.0  # a worker still running this long after SIGTERM is killed


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT: every worker binds its own to the same port."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on the address yet. Checked once by the supervisor,
    without SO_REUSEPORT: the workers' sockets would quietly share the port with any
    other process of the same user (another Accord, an older one) instead of failing."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


def _worker(host: str, port: int, log_level: str) -> None:
    """One worker process: the app from the environment (read in the child), on a
    socket of its own."""
    parent = os.getppid()
    config = uvicorn.Config(
        create_app_from_env(),  # which installs the gateway's logging
        log_level=log_level,
        log_config=None,  # uvicorn's lines go through the gateway's handler
        access_log=False,  # the request edge writes its own, without query strings
        server_header=False,
        ws="none",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=_orphaned, args=(server, parent), daemon=True).start()
    # Bound only once the app is built: the kernel hands a bound socket its share of
    # new connections at once, and they would wait while the worker is still starting.
    server.run(sockets=[listening_socket(host, port)])


def _orphaned(server: uvicorn.Server, parent: int) -> None:
    """Stop serving once the supervisor is gone (killed with SIGKILL, say): a worker
    left alone would hold the port with nobody to stop or restart it."""
    while os.getppid() == parent:
        time.sleep(1.0)
    log.warning("the supervisor is gone: stopping")
    server.should_exit = True


class Supervisor:
    def __init__(self, count: int, host: str, port: int, log_level: str) -> None:
        self.count = count
        self.args = (host, port, log_level)
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._workers: list[tuple[BaseProcess, float]] = []
        self._restarts = 0

    def stop(self, _signum: int = 0, _frame: FrameType | None = None) -> None:
        self._stopping.set()

    def _start(self) -> tuple[BaseProcess, float]:
        process = self._context.Process(target=_worker, args=self.args, name="accord-worker")
        process.start()
        return process, time.monotonic()

    def run(self) -> int:
        """Serve until stopped; the exit status (0, or 1 when a worker could not start)."""
        host, port, _ = self.args
        if not port_is_free(host, port):
            log.error("%s:%s is in use: not starting", host, port)
            return 1
        with run_directory() as metrics:  # the workers' metrics add up in it
            return self._supervise(metrics)

    def _supervise(self, metrics: Path) -> int:
        status = 0
        self._workers = [self._start() for _ in range(self.count)]
        while not self._stopping.wait(0.2):
            for index, (process, started) in enumerate(self._workers):
                if process.is_alive():
                    continue
                early = time.monotonic() - started < EARLY
                if early and self._restarts == 0:
                    log.error("a worker exited at start (status %s): stopping", process.exitcode)
                    status = 1
                    self._stopping.set()
                    break
                log.warning(
                    "worker %s exited (status %s): restarting", process.pid, process.exitcode
                )
                if process.pid is not None:  # its live gauges go; its counts stay in the sums
                    mark_process_dead(process.pid, str(metrics))  # type: ignore[no-untyped-call]
                self._restarts += 1
                if early:  # a restarted worker crashing at start: back off
                    time.sleep(min(EARLY, 0.5 * self._restarts))
                self._workers[index] = self._start()
        self._shut_down()
        return status

    def _shut_down(self) -> None:
        for process, _ in self._workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline = time.monotonic() + STOP_SECONDS
        for process, _ in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()

    def pids(self) -> list[int]:
        return [process.pid for process, _ in self._workers if process.pid is not None]


def serve(count: int, host: str, port: int, log_level: str) -> int:
    """Run ``count`` workers until SIGINT or SIGTERM; the exit status."""
    supervisor = Supervisor(count, host, port, log_level)
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    return supervisor.run()
