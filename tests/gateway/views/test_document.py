"""View entries written as text: the same bytes json.dumps would give."""

from __future__ import annotations

import json

import pytest

from gateway.views import document


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Xk3_-abc", id="pairwise-sub"),
        pytest.param('quote " and backslash \\', id="escapes"),
        pytest.param("中文 and ünïcode", id="non-ascii-kept"),
        pytest.param("line\nbreak\u2028", id="control-and-separators"),
    ],
)
def test_a_derived_entry_is_the_dict_as_json(value: str) -> None:
    expected = json.dumps(
        {"value": value, "merge": "derived"}, ensure_ascii=False, separators=(",", ":")
    )
    assert document.derived(value) == expected
    assert json.loads(document.derived(value)) == {"value": value, "merge": "derived"}
