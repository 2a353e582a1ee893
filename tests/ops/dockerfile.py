"""Dockerfiles and .dockerignore read as a builder reads them, for static checks.

Only what the checks need: instructions with their continuation lines joined and
comment lines dropped (the Dockerfile reference, "Format"), stages, exec or shell
form, COPY/ADD flags and sources, ENV in both forms; .dockerignore patterns with
Go's filepath.Match syntax plus ``**`` and ``!`` exceptions, the last match winning
and a path excluded when a parent directory is (moby/patternmatcher).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    value: str  # everything after the keyword, continuation lines joined
    line: int  # where it starts, 1-based


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile; instructions before the first FROM (ARG) are dropped."""
    stages: list[Stage] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment line inside a continued instruction is removed
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        _add(stages, " ".join(p for p in pending if p), start)
        pending = []
    if pending:
        _add(stages, " ".join(p for p in pending if p), start)
    return stages


def _add(stages: list[Stage], text: str, line: int) -> None:
    keyword, _, value = text.partition(" ")
    instruction = Instruction(keyword.upper(), value.strip(), line)
    if instruction.keyword == "FROM":
        words = [w for w in instruction.value.split() if not w.startswith("--")]
        name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
        stages.append(Stage(base=words[0], name=name, line=line))
    elif stages:
        stages[-1].instructions.append(instruction)


def exec_form(value: str) -> list[str] | None:
    """The JSON array of an exec-form instruction, or None for the shell form."""
    if not value.startswith("["):
        return None
    try:
        loaded = json.loads(value)
    except ValueError:
        return None
    if isinstance(loaded, list) and all(isinstance(item, str) for item in loaded):
        return loaded
    return None


def command(value: str) -> list[str]:
    """ENTRYPOINT, CMD or RUN as argv: exec form as is, shell form through /bin/sh -c."""
    form = exec_form(value)
    return form if form is not None else ["/bin/sh", "-c", value]


@dataclass(frozen=True)
class Copy:
    flags: dict[str, str]  # --from=builder -> {"from": "builder"}; --link -> {"link": ""}
    sources: list[str]
    destination: str
    line: int


def copy_of(instruction: Instruction) -> Copy:
    words = exec_form(instruction.value)
    if words is None:
        words = instruction.value.split()
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        name, _, setting = words.pop(0)[2:].partition("=")
        flags[name] = setting
    return Copy(flags, words[:-1], words[-1] if words else "", instruction.line)


def env_of(instruction: Instruction) -> dict[str, str]:
    """ENV key=value ... (quotes as the shell's) or the legacy ENV key value."""
    words = shlex.split(instruction.value)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.partition("=")[::2] for word in words)


def healthcheck_command(instruction: Instruction) -> list[str] | None:
    """The argv of HEALTHCHECK [--option ...] CMD ..., None for HEALTHCHECK NONE."""
    match = re.fullmatch(r"(?:--\S+\s+)*CMD\s+(.+)", instruction.value, re.IGNORECASE | re.DOTALL)
    return command(match.group(1).strip()) if match else None


# --- .dockerignore --------------------------------------------------------------------


@dataclass(frozen=True)
class IgnorePattern:
    text: str
    regex: re.Pattern[str]
    exception: bool  # a "!" line: re-include what matches


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("^"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def ignore_patterns(text: str) -> list[IgnorePattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        body = line[1:].strip() if exception else line
        body = body.strip("/")
        body = re.sub(r"/+", "/", body).removeprefix("./")
        patterns.append(IgnorePattern(line, re.compile(_translate(body)), exception))
    return patterns


def is_ignored(path: str, patterns: list[IgnorePattern]) -> bool:
    """Whether a context-relative POSIX path stays out of the build context."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        if any(pattern.regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not pattern.exception
    return ignored


# --- an image: a Dockerfile in its build context --------------------------------------


@dataclass(frozen=True)
class Image:
    dockerfile: Path
    context: Path
    stages: list[Stage]

    @classmethod
    def load(cls, dockerfile: Path, context: Path) -> Image:
        return cls(dockerfile, context, parse(dockerfile.read_text(encoding="utf-8")))

    def final(self) -> list[Instruction]:
        """The final stage's instructions, after those of the stages it is built FROM."""
        by_name = {stage.name: stage for stage in self.stages if stage.name}
        chain: list[Stage] = [self.stages[-1]]
        while chain[0].base in by_name and by_name[chain[0].base] not in chain:
            chain.insert(0, by_name[chain[0].base])
        return [instruction for stage in chain for instruction in stage.instructions]

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.final() if i.keyword == keyword]
        return found[-1] if found else None

    def entrypoint(self) -> list[str]:
        instruction = self.last("ENTRYPOINT")
        return command(instruction.value) if instruction else []

    def cmd(self) -> list[str]:
        instruction = self.last("CMD")
        return command(instruction.value) if instruction else []

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.final():
            if instruction.keyword == "ENV":
                values.update(env_of(instruction))
        return values

    def exposed(self) -> set[int]:
        ports: set[int] = set()
        for instruction in self.final():
            if instruction.keyword == "EXPOSE":
                ports |= {int(word.split("/")[0]) for word in instruction.value.split()}
        return ports

    def copied(self) -> set[str]:
        """Paths the final stage copies files to (a destination, or a file under it)."""
        paths: set[str] = set()
        for instruction in self.final():
            if instruction.keyword in {"COPY", "ADD"}:
                copy = copy_of(instruction)
                paths.add(copy.destination.rstrip("/"))
                if copy.destination.endswith("/"):
                    paths |= {copy.destination + Path(s).name for s in copy.sources}
        return paths

    def instructions(self) -> list[Instruction]:
        return [i for stage in self.stages for i in stage.instructions]
