"""docs/sdk.md, run: every sample in order against a real gateway, with only what a
reader has (the gateway's URL, their site's URL, the operator's token, the alliance's
SuperLink) given through the environment the guide reads."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from federation.deployment import BIN, Federation, free_ports, spawn, stop, wait_for_port
from tests.docs.browser import Browser, button, hidden
from tests.docs.conftest import Gateway
from tests.docs.samples import (
    ROOT,
    UVICORN_WEBSOCKETS,
    Act,
    Block,
    Namespace,
    read_through,
    run_shell,
    shell_env,
)
from tests.e2e.live import free_port

GUIDE = ROOT / "docs" / "sdk.md"
SHELL_TIMEOUT = 120.0
NODE_TIMEOUT = 30.0  # for the SuperNode to reach the SuperLink


class SuperLink:
    """The alliance's SuperLink, whose address a platform is given. It boots while the
    guide's first samples run; the guide's SuperNode joins it in the background, and is
    checked (the SuperLink activated it) and stopped when the guide is done."""

    def __init__(self, work: Path) -> None:
        home, logs = work / "flwr-home", work / "flwr-logs"
        home.mkdir()
        logs.mkdir()
        (self.port,) = free_ports(1)
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # its SuperExec
            "FLWR_HOME": str(home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
        }
        self.fed = Federation(env, home, logs, self.port)
        self.link = spawn(
            [str(BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1",
             "--port", str(self.port), "--disable-runtime-dependency-installation"],
            logs / "superlink.log",
            self.fed,
        )  # fmt: skip
        self.node: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_node(self, block: Block, env: dict[str, str], cwd: Path) -> None:
        """Run the guide's SuperNode sample (a long-lived process) in the background."""
        wait_for_port(self.port, self.link, timeout=60)
        with (self.fed.logs / "supernode.log").open("wb") as out:
            self.node = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", block.text],
                env={**env, "FLWR_HOME": str(self.fed.home)},
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with its children
            )
        self.fed.processes.append(self.node)

    def node_joined(self) -> None:
        """Fails unless the SuperNode is running and the SuperLink activated it."""
        assert self.node is not None, "the guide started no SuperNode"
        log = self.fed.logs / "superlink.log"
        deadline = time.monotonic() + NODE_TIMEOUT
        while "[Fleet.ActivateNode] Activated node_id=" not in log.read_text(errors="replace"):
            node_log = (self.fed.logs / "supernode.log").read_text(errors="replace")
            assert self.node.poll() is None, node_log
            assert time.monotonic() < deadline, node_log
            time.sleep(0.2)
        assert self.node.poll() is None

    def stop(self) -> None:
        stop(self.fed)  # SIGTERM to each process group, then SIGKILL


@pytest.fixture
def superlink(tmp_path: Path) -> Iterator[SuperLink]:
    link = SuperLink(tmp_path)
    try:
        yield link
    finally:
        link.stop()


def signs_in_at_the_center(namespace: Namespace) -> None:
    """The person opens the consent center, picks Redleaf, cancels at Redleaf's page (the
    handler rejects the challenge), then signs in as li.wei (the handler accepts it)."""
    gateway, site = namespace["GATEWAY"], namespace["SITE"]
    password = namespace["ACCOUNTS"]["li.wei"][1]
    with Browser() as browser:
        for action in ("cancel", "sign-in"):
            center = browser.get(f"{gateway}/center")
            chosen = {
                "csrf": hidden(center)["csrf"],
                "platform": button(center, "platform", "Redleaf Social Shop"),
            }
            to_login = browser.go(browser.submit(f"{gateway}/center/signin", chosen))
            assert to_login.startswith(f"{site}/accord/login?login_challenge="), to_login
            page = browser.get(to_login)
            assert "Sign in to Accord with Redleaf" in page.text, page.text
            answer = {"challenge": hidden(page)["challenge"], "action": action}
            answer |= {"username": "li.wei", "password": password}
            back = browser.go(browser.submit(f"{site}/accord/login", answer))
            assert back.startswith(f"{gateway}/signin/return?verifier="), back
            returned = browser.get(back)
            if action == "cancel":
                assert returned.status_code == 403, returned.text  # the platform refused
            else:
                assert browser.go(returned) == f"{gateway}/center"
        signed_in = browser.get(f"{gateway}/center")
        assert "Redleaf Social Shop" in signed_in.text and "/center/unlink" in signed_in.text


ACTS: dict[str, Act] = {
    "signs in to the consent center through Redleaf as li.wei, after cancelling once": (
        signs_in_at_the_center
    ),
}


@pytest.mark.slow
@pytest.mark.filterwarnings(UVICORN_WEBSOCKETS)
def test_every_sample_of_the_sdk_guide_runs(
    gateway: Gateway,
    superlink: SuperLink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "reader"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("GATEWAY", gateway.url)
    monkeypatch.setenv("SITE", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("ACCORD_OPERATOR_TOKEN", gateway.operator_token)
    monkeypatch.setenv("SUPERLINK", superlink.address)

    def shell(block: Block, namespace: Namespace) -> None:
        env = shell_env(namespace, gateway.environment())
        if "flower-supernode " in block.text:
            superlink.start_node(block, env, work)
        else:
            run_shell(block, env, work, SHELL_TIMEOUT)

    namespace: Namespace = {"__name__": "sdk_guide"}
    try:
        read_through(GUIDE, namespace=namespace, acts=ACTS, shell=shell)
    finally:
        _close(namespace)

    # What the guide says happened, did.
    superlink.node_joined()
    kinds = {e.event_type.split("/secevent/")[-1] for e in namespace["handled"].values()}
    assert {"consent/granted", "consent/withdrawn", "erasure/requested"} <= kinds, kinds
    assert namespace["personalised"] == set()
    assert namespace["verified"].event_type == "given"
    assert namespace["again"].replayed and namespace["result"].rejected == 1
    refused = namespace["results"][1]
    assert getattr(refused, "code", None) == "invalid_scope", refused
    assert (work / "bluefin.json").exists()
    members = httpx.get(f"{gateway.url}/v1/admin/platforms", headers=gateway.operator)
    assert {"Redleaf Social Shop", "Bluefin Live Mall"} <= {m["name"] for m in members.json()}


def _close(namespace: Namespace) -> None:
    """Stop what the guide started: its site's server and its clients."""
    site = namespace.get("site")
    if site is not None:
        site.should_exit = True
        for thread in threading.enumerate():
            if thread.name == "site":
                thread.join(timeout=10)
    for name in ("platform", "operator"):
        client = namespace.get(name)
        if client is not None:
            client.close()
