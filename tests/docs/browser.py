"""The person's browser, where a guide asks its reader to act as one: plain HTTP with a
cookie jar, reading the gateway's server-rendered forms (no JavaScript anywhere)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType
from typing import Self

import httpx

_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
_CHECKED = re.compile(r'<input type="checkbox" name="scope" value="([^"]*)" checked>')


class Browser:
    def __init__(self) -> None:
        self.http = httpx.Client(
            follow_redirects=False, timeout=30, headers={"Accept-Language": "en"}
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.http.close()

    def get(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def submit(self, url: str, fields: Mapping[str, str | list[str]]) -> httpx.Response:
        """POST a form (as a browser: urlencoded, repeated names for lists)."""
        return self.http.post(url, data=fields)

    @staticmethod
    def go(response: httpx.Response) -> str:
        """Where a 303 sends the browser."""
        assert response.status_code == 303, (response.status_code, response.text[:2000])
        return response.headers["location"]


def hidden(page: httpx.Response) -> dict[str, str]:
    """The hidden fields of the page's (first) form."""
    assert page.status_code == 200, (page.status_code, page.text[:2000])
    return dict(_HIDDEN.findall(page.text))


def checked_scopes(page: httpx.Response) -> list[str]:
    return _CHECKED.findall(page.text)


def button(page: httpx.Response, name: str, label: str) -> str:
    """The value of the submit button ``name`` whose text is ``label``."""
    pattern = rf'<button type="submit" name="{name}" value="([^"]+)"[^>]*>{re.escape(label)}<'
    found = re.search(pattern, page.text)
    assert found, f"no {name!r} button {label!r} on the page"
    return found.group(1)


def labelled(page: httpx.Response, name: str, label_end: str) -> str:
    """The value of the submit button ``name`` whose aria-label ends with ``label_end``."""
    pattern = rf'name="{name}" value="([^"]+)" aria-label="[^"]*{re.escape(label_end)}"'
    found = re.search(pattern, page.text)
    assert found, f"no {name!r} button labelled ...{label_end!r} on the page"
    return found.group(1)
