"""Container healthchecks without curl (the slim images have none).

    python healthcheck.py http /readyz        the gateway on 127.0.0.1:$ACCORD_PORT answers 200
    python healthcheck.py grpc 127.0.0.1:9099 a Flower SuperLink or SuperNode health server
                                              (--health-server-address) answers SERVING

Exit status 0 when healthy, 1 when not, with one line on stderr saying why. The grpc
mode needs grpcio-health-checking, which the federation image has through flwr.
Only the standard library is imported at the top: the gateway image runs the http mode.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0
DEFAULT_PORT = "8000"  # gateway.settings.Settings.port's default


def check_http(path: str, port: str | None = None) -> str | None:
    """None when GET http://127.0.0.1:<port><path> answers 200, else why not."""
    if not path.startswith("/"):
        return f"path must start with /: {path!r}"
    port = port or os.environ.get("ACCORD_PORT", DEFAULT_PORT)
    url = f"http://127.0.0.1:{port}{path}"
    try:
        # The URL is http://127.0.0.1 by construction: no file: or remote scheme.
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status: int = response.status
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} does not answer: {exc}"
    return None if status == 200 else f"{url} answered {status}"


def check_grpc(address: str) -> str | None:
    """None when the gRPC health service at host:port reports SERVING, else why not."""
    import grpc  # type: ignore[import-untyped]  # noqa: PLC0415 - only the federation image has it
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]  # noqa: PLC0415

    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            return f"{address} does not answer: {exc.code()}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address} is {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"http", "grpc"}:
        print("usage: healthcheck.py http /path | grpc host:port", file=sys.stderr)
        return 2
    mode, target = argv
    problem = check_http(target) if mode == "http" else check_grpc(target)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
