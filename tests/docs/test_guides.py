"""The guides hold only samples their tests run: a new kind of fenced block, or a person's
step no test plays, fails here before the slow runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs import test_brands_guide, test_sdk_guide
from tests.docs.samples import PERSON, ROOT, blocks, unknown_kinds

GUIDES = {
    "sdk.md": set(test_sdk_guide.ACTS),
    "brands.md": {test_brands_guide.SIGN_IN, test_brands_guide.WITHDRAW},
}


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_a_guide_holds_only_samples_its_test_runs(guide: str) -> None:
    path = ROOT / "docs" / guide
    assert unknown_kinds(path) == []
    kinds = {block.kind for block in blocks(path)}
    assert "python" in kinds


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_every_step_of_a_person_has_an_act(guide: str) -> None:
    steps = {b.text for b in blocks(ROOT / "docs" / guide) if b.kind == PERSON}
    assert steps == GUIDES[guide]


def test_a_new_kind_of_block_is_caught(tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(
        "# A guide\n\n```python\nx = 1\n```\n\n```js\nlet y = 2;\n```\n\n```\nplain\n```\n",
        encoding="utf-8",
    )
    assert unknown_kinds(guide) == ["guide.md:7 js", "guide.md:11 (no language)"]
    assert [b.text for b in blocks(guide)] == ["x = 1\n", "let y = 2;\n", "plain\n"]


def test_the_readme_links_both_guides() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sdk_row = next(line for line in readme.splitlines() if line.startswith("| SDK (`sdk/`)"))
    assert "docs/sdk.md" in sdk_row and "docs/brands.md" in sdk_row


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_a_guide_links_only_to_documents_and_headings_that_exist(guide: str) -> None:
    text = (ROOT / "docs" / guide).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+\.md)(?:#([^)]+))?\)", text):
        document, anchor = ROOT / "docs" / target[0], target[1]
        assert document.exists(), target
        assert not anchor or anchor in _anchors(document), target
