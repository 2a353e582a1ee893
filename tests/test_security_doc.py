"""``docs/security.md`` stays true to the tree: every test it cites exists as a test
function, every code path (and symbol) it names exists, every section of RFC 9700 §2
and §4 has a row, the totals match the tables, and every gap is listed under Gaps."""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"

# The section headings of RFC 9700 (published January 2025) that carry its
# recommendations (§2) and its attacks and countermeasures (§4).
RFC9700_SECTION_2 = [
    "2.1",
    "2.1.1",
    "2.1.2",
    "2.2",
    "2.2.1",
    "2.2.2",
    "2.3",
    "2.4",
    "2.5",
    "2.6",
]
RFC9700_SECTION_4 = [f"4.{n}" for n in range(1, 18)]  # 4.1 Insufficient Redirection ... 4.17
# Every numbered heading of RFC 9700 §2 and §4 down to the fourth level: a section the
# document cites must be one of these.
RFC9700_ALL = {
    *("2", "3", "4"),
    *RFC9700_SECTION_2,
    *RFC9700_SECTION_4,
    *("4.1.1", "4.1.2", "4.1.3", "4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.3.1", "4.3.2"),
    *("4.4.1", "4.4.2", "4.4.2.1", "4.4.2.2", "4.5.1", "4.5.2", "4.5.3", "4.5.3.1"),
    *("4.5.3.2", "4.5.3.3", "4.5.4", "4.6.1", "4.7.1", "4.8.1", "4.8.2", "4.9.1", "4.9.2"),
    *("4.9.3", "4.10.1", "4.10.2", "4.10.3", "4.11.1", "4.11.2", "4.14.1", "4.14.2"),
    *("4.15.1", "4.17.1", "4.17.1.1", "4.17.1.2", "4.17.1.3", "4.17.2"),
}

STATUSES = ("implemented", "partial", "not implemented", "not applicable")
TABLES = {
    "RFC 9700 §2: Best Practices": "RFC 9700 §",
    "RFC 9700 §4: Attacks and Mitigations": "RFC 9700 §",
    "OWASP ASVS 4.0.3": "ASVS 4.0.3 V",
    "OWASP ASVS 5.0.0, V10 OAuth and OIDC": "ASVS 5.0.0 V10.",
}
COLUMNS = ["ID", "Requirement", "Status", "Where in the code", "Tests"]

TEST_REF = re.compile(r"(?<![\w/.-])(tests/[\w/.-]+?\.py)((?:::[A-Za-z_]\w*)+)")
TEST_FILE = re.compile(r"(?<![\w/.-])(tests/[\w/.-]+?\.py)(?!::)")
CODE_REF = re.compile(r"(?<![\w/.-])((?:gateway|consent|sdk)(?:/[\w.-]*)+)(?:::([\w.]+))?")
SECTION = re.compile(r"(?:RFC (\d+) )?§(\d+(?:\.\d+)*)")
TOTALS = re.compile(
    r"\*\*Totals:\*\* (\d+) items: (\d+) implemented, (\d+) partial, "
    r"(\d+) not implemented, (\d+) not applicable; (\d+) items have no test\."
)


@dataclass(frozen=True)
class Row:
    table: str
    line: int
    cells: list[str]

    @property
    def id(self) -> str:
        return self.cells[0]

    @property
    def status(self) -> str:
        text = self.cells[2].lower()
        # "not implemented" before "implemented": the longer status wins.
        for status in sorted(STATUSES, key=len, reverse=True):
            if text.startswith(status):
                return status
        return ""

    @property
    def untested(self) -> bool:
        return "no test" in self.cells[4]

    @property
    def has_gap(self) -> bool:
        return self.status in {"partial", "not implemented"} or self.untested


@cache
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def sections() -> dict[str, list[tuple[int, str]]]:
    """The document's ``##`` sections: title -> its (line number, line) pairs."""
    found: dict[str, list[tuple[int, str]]] = {}
    current = ""
    for number, line in enumerate(text().splitlines(), start=1):
        if line.startswith("## "):
            current = line[3:].strip()
            found[current] = []
        elif current:
            found[current].append((number, line))
    return found


def split_row(line: str) -> list[str]:
    # Cells hold backticked code, never a literal pipe.
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def rows() -> tuple[Row, ...]:
    found: list[Row] = []
    by_title = sections()
    for title in TABLES:
        assert title in by_title, f"docs/security.md has no section '## {title}'"
        table = [(n, line) for n, line in by_title[title] if line.startswith("|")]
        assert table, f"section '{title}' has no table"
        header = split_row(table[0][1])
        assert header == COLUMNS, f"section '{title}': columns {header}, expected {COLUMNS}"
        for number, line in table[2:]:  # past the header and its separator
            cells = split_row(line)
            assert len(cells) == len(COLUMNS), (
                f"docs/security.md line {number}: {len(cells)} cells, expected {len(COLUMNS)}"
            )
            found.append(Row(title, number, cells))
    return tuple(found)


def gap_ids() -> list[str]:
    lines = [line for _, line in sections().get("Gaps", [])]
    return re.findall(r"^- \*\*(.+?)\*\* ", "\n".join(lines), flags=re.MULTILINE)


# --- references ---------------------------------------------------------------------


@cache
def module(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def names_in(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """What a module or class body defines: functions, classes and assigned names."""
    defined: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    defined[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined[node.target.id] = node
    return defined


def is_test_function(node: ast.stmt | None) -> bool:
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")


def methods_of_test_class(node: ast.stmt | None) -> set[str]:
    """The test methods of a ``Test*`` class (nothing for anything else)."""
    if not isinstance(node, ast.ClassDef) or not node.name.startswith("Test"):
        return set()
    return {name for name, item in names_in(node.body).items() if is_test_function(item)}


def why_not_a_test(path: str, parts: list[str]) -> str | None:
    """Why ``path::parts`` is not a test pytest would collect, or None if it is."""
    file = ROOT / path
    if not file.is_file():
        return f"{path} does not exist"
    top = names_in(module(file).body)
    if len(parts) == 1:
        # A test function, or a method of a test class named without its class.
        found = is_test_function(top.get(parts[0])) or any(
            parts[0] in methods_of_test_class(node) for node in top.values()
        )
        return None if found else f"{path} defines no test function {parts[0]!r}"
    if len(parts) == 2:
        if parts[1] in methods_of_test_class(top.get(parts[0])):
            return None
        return f"{path} defines no test class {parts[0]!r} with a test method {parts[1]!r}"
    return f"{path}::{'::'.join(parts)} is not a test node id"


def why_not_code(path: str, symbol: str | None) -> str | None:
    """Why a code reference is wrong, or None: the path exists and, for ``path::A.b``,
    the module defines ``A`` and ``A`` defines ``b``."""
    target = ROOT / path
    if not target.exists():
        return f"{path} does not exist"
    if symbol is None:
        return None
    if not target.is_file() or target.suffix != ".py":
        return f"{path} is not a Python module, so it has no {symbol!r}"
    body: list[ast.stmt] = module(target).body
    for depth, name in enumerate(symbol.split(".")):
        node = names_in(body).get(name)
        where = path if depth == 0 else f"{path}::{'.'.join(symbol.split('.')[:depth])}"
        if node is None:
            return f"{where} defines no {name!r}"
        body = node.body if isinstance(node, ast.ClassDef) else []
    return None


def cited_tests() -> list[tuple[str, list[str]]]:
    return [(m.group(1), m.group(2).split("::")[1:]) for m in TEST_REF.finditer(text())]


def cited_code() -> list[tuple[str, str | None]]:
    found = []
    for match in CODE_REF.finditer(text()):
        path = match.group(1).rstrip(".-")
        symbol = match.group(2).rstrip(".") if match.group(2) else None
        found.append((path, symbol or None))
    return found


# --- the tests ------------------------------------------------------------------------


def test_the_document_cites_tests_and_code() -> None:
    assert len(cited_tests()) >= 100
    assert len(cited_code()) >= 100


def test_every_cited_test_exists() -> None:
    problems = sorted(
        {
            f"{path}::{'::'.join(parts)}: {problem}"
            for path, parts in cited_tests()
            if (problem := why_not_a_test(path, parts)) is not None
        }
    )
    files = sorted(
        {
            f"{path}: does not exist"
            for path in TEST_FILE.findall(text())
            if not (ROOT / path).is_file()
        }
    )
    broken = problems + files
    assert not broken, "docs/security.md cites tests that do not exist:\n" + "\n".join(broken)


def test_every_cited_code_path_exists() -> None:
    broken = sorted(
        {
            f"{path}{'::' + symbol if symbol else ''}: {problem}"
            for path, symbol in cited_code()
            if (problem := why_not_code(path, symbol)) is not None
        }
    )
    assert not broken, "docs/security.md names code that does not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    "number", [pytest.param(n, id=f"§{n}") for n in RFC9700_SECTION_2 + RFC9700_SECTION_4]
)
def test_every_rfc_9700_section_has_a_row(number: str) -> None:
    own = re.compile(rf"§{re.escape(number)}(?![\d]|\.\d)")
    ids = [row.id for row in rows() if row.table.startswith("RFC 9700")]
    assert any(own.search(row_id) for row_id in ids), (
        f"no row of the RFC 9700 tables has 'RFC 9700 §{number}' in its ID column"
    )


def test_rfc_9700_sections_cited_in_the_tables_exist() -> None:
    unknown = sorted(
        {
            f"line {row.line}: §{number}"
            for row in rows()
            if row.table.startswith("RFC 9700")
            for cell in row.cells[:2]
            for rfc, number in SECTION.findall(cell)
            if rfc in {"", "9700"} and number not in RFC9700_ALL
        }
    )
    cited = {n for n in re.findall(r"RFC 9700 §(\d+(?:\.\d+)*)", text()) if n not in RFC9700_ALL}
    assert not unknown and not cited, f"not RFC 9700 sections: {unknown + sorted(cited)}"


def test_rows_have_a_known_id_status_and_evidence() -> None:
    problems = []
    seen: Counter[str] = Counter(row.id for row in rows())
    for row in rows():
        where = f"line {row.line} ({row.id})"
        if not row.id.startswith(TABLES[row.table]):
            problems.append(f"{where}: the ID must start with {TABLES[row.table]!r}")
        if seen[row.id] > 1:
            problems.append(f"{where}: the ID is used {seen[row.id]} times")
        if not row.status:
            problems.append(f"{where}: status {row.cells[2]!r} is none of {STATUSES}")
        cited = TEST_REF.search(row.cells[4]) is not None
        if row.status in {"implemented", "partial"} and not (cited or row.untested):
            problems.append(f"{where}: cite a test, or say 'no test'")
        if row.status in {"partial", "not applicable"} and ":" not in row.cells[2]:
            problems.append(f"{where}: say why after the status ('{row.status}: ...')")
    assert not problems, "malformed rows in docs/security.md:\n" + "\n".join(problems)


def test_the_totals_match_the_tables() -> None:
    match = TOTALS.search(text())
    assert match is not None, "docs/security.md has no '**Totals:** ...' line in its format"
    counts = Counter(row.status for row in rows())
    expected = (
        len(rows()),
        counts["implemented"],
        counts["partial"],
        counts["not implemented"],
        counts["not applicable"],
        sum(row.untested for row in rows()),
    )
    stated = tuple(int(group) for group in match.groups())
    assert stated == expected, (
        f"the totals say {stated}, the tables count {expected} "
        "(items, implemented, partial, not implemented, not applicable, no test)"
    )


def test_every_gap_is_listed_and_every_listed_gap_is_a_row() -> None:
    listed = set(gap_ids())
    ids = {row.id for row in rows()}
    missing = sorted(row.id for row in rows() if row.has_gap and row.id not in listed)
    strays = sorted(listed - ids)
    assert not missing, "rows with a gap missing from '## Gaps':\n" + "\n".join(missing)
    assert not strays, "'## Gaps' lists IDs that are no row:\n" + "\n".join(strays)
