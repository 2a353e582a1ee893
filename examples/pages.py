"""Server-rendered pages of the demo apps: no JavaScript, every value escaped.

Pages are small f-strings over :func:`e` (``html.escape``, quotes included); nothing
reaches the HTML unescaped except markup built here. Forms are read by :func:`form`
(URL-encoded, bounded, each field once).

All demo apps share the host 127.0.0.1, and cookies do not tell ports apart, so each
app names its cookies after itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse

MAX_FORM_BYTES = 8_192
HEADERS = {
    # No script at all; styles inline; the forms may go on to the gateway (redirects).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:var(--accent);color:#fff;padding:.8rem 1.5rem}
header a{color:#fff}
header p{margin:.2rem 0 0;opacity:.9}
main{max-width:60rem;margin:1.5rem auto;padding:0 1.5rem}
nav{margin:.5rem 0 1rem}
nav a{margin-right:1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
code{font-size:.85em;word-break:break-all}
.muted{color:#666}
.notice{border-left:4px solid var(--accent);background:#fff;padding:.6rem 1rem}
.error{border-left:4px solid #b00020;background:#fff0f0;padding:.6rem 1rem}
button,.button{background:var(--accent);color:#fff;border:0;border-radius:4px;
 padding:.45rem .9rem;font-size:1rem;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#777}
label{display:block;margin:.5rem 0 .2rem}
input,select{font-size:1rem;padding:.3rem}
"""


def e(value: object) -> str:
    """Escaped text for HTML content and quoted attributes."""
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Frame:
    """What every page of one app shares: its name, colour, tagline and navigation."""

    app_name: str
    accent: str
    tagline: str
    nav: Sequence[tuple[str, str]] = ()  # (href, label)


def page(
    frame: Frame,
    title: str,
    body: str,
    *,
    status: int = 200,
    refresh: int | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    links = "".join(f'<a href="{e(href)}">{e(label)}</a>' for href, label in frame.nav)
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)} · {e(frame.app_name)}</title>{meta}"
        '<link rel="icon" href="data:,">'  # no favicon request (and no 404 for it)
        f"<style>:root{{--accent:{e(frame.accent)}}}{STYLE}</style></head><body>"
        f'<header><strong id="app-name">{e(frame.app_name)}</strong>'
        f"<p>{e(frame.tagline)}</p></header>"
        f'<main><nav aria-label="Pages">{links}</nav>{body}</main></body></html>'
    )
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def table(element_id: str, head: Iterable[str], rows: Iterable[str]) -> str:
    """A table whose rows are already-built ``<tr>`` markup."""
    heads = "".join(f'<th scope="col">{e(h)}</th>' for h in head)
    return f'<table id="{e(element_id)}"><thead><tr>{heads}</tr></thead><tbody>{"".join(rows)}</tbody></table>'  # noqa: E501


async def form(request: Request) -> dict[str, str] | None:
    """The URL-encoded form body, each field once; None if it is too big or malformed."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    if any(len(values) != 1 for values in parsed.values()):
        return None
    return {name: values[0] for name, values in parsed.items()}


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this app, else ``default``: never an open redirect
    (no scheme, no ``//host``, no backslash tricks, no control characters)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
        or len(target) > 200
    ):
        return default
    return target


def csrf_token(secret: bytes, session: str) -> str:
    """A token bound to the browser's session at this app (for its signed-in forms)."""
    return hmac.new(secret, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(secret, session), token)
