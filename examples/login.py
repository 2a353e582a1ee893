"""A demo platform's login form and its list of demo users, shared by its own login
page and the page the gateway sends people to."""

from __future__ import annotations

from examples.cast import PASSWORD, PlatformCast
from examples.pages import e


def demo_users(cast: PlatformCast) -> str:
    items = "".join(
        f'<li><code class="demo-user">{e(u.username)}</code> — {e(u.display_name)}</li>'
        for u in cast.users
    )
    return (
        '<section id="demo-users" aria-labelledby="demo-users-title">'
        '<h2 id="demo-users-title">Demo users</h2>'
        f'<p>Every demo user\'s password is <code id="demo-password">{e(PASSWORD)}</code>.</p>'
        f"<ul>{items}</ul></section>"
    )


def login_form(
    name: str,
    action: str,
    *,
    hidden: dict[str, str] | None = None,
    username: str = "",
    cancel: bool = False,
) -> str:
    fields = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in (hidden or {}).items()
    )
    cancel_button = (
        '<button id="cancel" class="secondary" type="submit" name="decision" value="cancel"'
        " formnovalidate>Cancel</button>"
        if cancel
        else ""
    )
    return (
        f'<form id="login-form" method="post" action="{e(action)}">{fields}'
        '<label for="user">User name</label>'
        f'<input id="user" name="user" autocomplete="username" required value="{e(username)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password"'
        ' autocomplete="current-password" required>'
        f'<p><button id="sign-in" type="submit" name="decision" value="signin">Sign in to'
        f" {e(name)}</button> {cancel_button}</p></form>"
    )


def error(message: str) -> str:
    return f'<p id="login-error" class="error" role="alert">{e(message)}</p>'
