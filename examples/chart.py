"""A horizontal bar chart as inline SVG, drawn on the server (no script, no library).

Each bar is a group of a sandbox answer: its noisy count, or a grey stub marked
"suppressed" when the gateway withheld the group (its noisy count was under the
threshold). Labels are escaped like any other text of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from examples.pages import e

ROW = 28  # pixels per bar
LABEL = 170  # pixels for the labels on the left
BAR = 360  # pixels for the longest bar
VALUE = 110  # pixels for the number on the right
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: suppressed


def bar_chart(element_id: str, title: str, bars: Sequence[Bar]) -> str:
    width = LABEL + BAR + VALUE
    height = TOP * 2 + ROW * max(1, len(bars))
    largest = max((b.value for b in bars if b.value), default=1)
    parts = [
        f'<svg id="{e(element_id)}" xmlns="http://www.w3.org/2000/svg" role="img"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' aria-labelledby="{e(element_id)}-title">'
        f'<title id="{e(element_id)}-title">{e(title)}</title>'
    ]
    for n, bar in enumerate(bars):
        y = TOP + n * ROW
        middle = y + ROW // 2 + 5
        parts.append(
            f'<g class="bar" data-label="{e(bar.label)}">'
            f'<text x="{LABEL - 8}" y="{middle}" text-anchor="end" font-size="13">'
            f"{e(bar.label)}</text>"
        )
        if bar.value is None:
            parts.append(
                f'<rect x="{LABEL}" y="{y + 4}" width="6" height="{ROW - 8}" fill="#bbb"/>'
                f'<text x="{LABEL + 12}" y="{middle}" font-size="12" fill="#666">'
                "suppressed</text></g>"
            )
            continue
        length = max(1, round(BAR * max(0, bar.value) / largest))
        parts.append(
            f'<rect x="{LABEL}" y="{y + 4}" width="{length}" height="{ROW - 8}"'
            ' style="fill:var(--accent,#555)"/>'
            f'<text x="{LABEL + length + 6}" y="{middle}" font-size="12">{bar.value:,}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
