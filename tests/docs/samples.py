"""A guide's samples, read from its Markdown in order and run as a reader would.

A guide holds fenced ``python`` and ``sh`` blocks, and ``<!-- person: … -->`` comments
where the text asks the reader to act in a browser as a person. The Python blocks run
one after the other in one namespace, compiled with the guide's own line numbers so a
failure points into the guide. Any other fence (a new language, a bare fence) is a
sample nobody runs, and fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RUN = frozenset({"python", "sh"})  # the fenced kinds the tests run
PERSON = "person"
BIN = Path(sys.executable).parent

# The guides serve their sites with uvicorn's defaults, which import websockets' legacy API.
UVICORN_WEBSOCKETS = "ignore::DeprecationWarning:(websockets|uvicorn)[.a-z_]*"

_FENCE = re.compile(r"^```(.*)$")
_PERSON = re.compile(r"^<!-- person: (.+?) -->\s*$")
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")

Namespace = dict[str, Any]
Act = Callable[[Namespace], None]


@dataclass(frozen=True)
class Block:
    kind: str  # a fence's info string ("python", "sh", ...), or "person"
    text: str
    line: int  # of the block's first line of text in the guide (1-based)


def blocks(path: Path) -> list[Block]:
    """The guide's fenced blocks and person comments, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        person = _PERSON.match(line)
        fence = _FENCE.match(line)
        if person:
            found.append(Block(PERSON, person.group(1), index + 1))
        elif fence:
            end = index + 1
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            if end == len(lines):
                raise AssertionError(f"{path.name}:{index + 1}: a fence that never closes")
            text = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(fence.group(1).strip(), text, index + 2))
            index = end
        index += 1
    return found


def unknown_kinds(path: Path) -> list[str]:
    """``file:line kind`` of every fenced block the tests do not run."""
    return [
        f"{path.name}:{b.line - 1} {b.kind or '(no language)'}"
        for b in blocks(path)
        if b.kind != PERSON and b.kind not in RUN
    ]


def run_python(block: Block, path: Path, namespace: Namespace) -> None:
    # Padding keeps the guide's line numbers in tracebacks.
    code = compile("\n" * (block.line - 1) + block.text, str(path.relative_to(ROOT)), "exec")
    exec(code, namespace)  # noqa: S102 - the guide's own samples, as printed


def shell_env(namespace: Namespace, extra: Mapping[str, str]) -> dict[str, str]:
    """What a reader's shell holds: the environment without any ``ACCORD_`` setting
    (``extra`` gives the gateway's), the venv's commands first on ``PATH``, and the
    guide's string constants (``CLIENT_ID``...) exported under their own names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    env.update({k: v for k, v in namespace.items() if _CONSTANT.match(k) and isinstance(v, str)})
    return env


def run_shell(block: Block, env: Mapping[str, str], cwd: Path, timeout: float) -> str:
    """Run a shell sample to its end; its output. Fails on a non-zero status."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"line {block.line}: {done.stdout}\n{done.stderr}"
    return done.stdout


def read_through(
    path: Path,
    *,
    namespace: Namespace,
    acts: Mapping[str, Act],
    shell: Callable[[Block, Namespace], None],
) -> list[tuple[Block, float]]:
    """Run every block of the guide in order; each with the seconds it took."""
    took: list[tuple[Block, float]] = []
    for block in blocks(path):
        started = time.monotonic()
        if block.kind == "python":
            run_python(block, path, namespace)
        elif block.kind == "sh":
            shell(block, namespace)
        elif block.kind == PERSON:
            assert block.text in acts, f"{path.name}:{block.line}: no act {block.text!r}"
            acts[block.text](namespace)
        else:
            raise AssertionError(
                f"{path.name}:{block.line - 1}: a {block.kind!r} block runs nowhere"
            )
        took.append((block, time.monotonic() - started))
    return took
