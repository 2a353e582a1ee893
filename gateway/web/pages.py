"""Server-rendered pages: Jinja2 with autoescaping, in Chinese or English, usable
without JavaScript, every form carrying a CSRF token bound to the browser cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    ),
}

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title_signin": "Sign in with Accord",
        "choose": "Choose the platform you want to sign in with. You will sign in there, and only"
        " come back here to confirm.",
        "for_client": "to continue to",
        "continue_with": "Continue with",
        "title_consent": "Review what is asked",
        "recipient": "Recipient",
        "contact": "Contact",
        "purpose": "Purpose",
        "categories": "Data categories",
        "valid_until": "Valid for",
        "days": "days",
        "required": "Required to sign in",
        "optional": "Optional: allow",
        "already": "Already allowed",
        "approve": "Allow the selected items",
        "deny": "Refuse",
        "withdraw_note": "You can withdraw any consent at any time in the consent center, as"
        " easily as you gave it.",
        "title_error": "This sign-in cannot continue",
        "title_logout": "Sign out of Accord",
        "logout_ask": "Do you want to sign out of Accord in this browser? Every site you signed"
        " in to through this sign-in loses its access.",
        "logout_from": "asked by",
        "logout_confirm": "Sign out",
        "title_signed_out": "Signed out",
        "signed_out": "You are signed out of Accord in this browser.",
        "title_center": "Accord consent center",
        "center_signin": "Sign in through any platform linked to your Accord identity.",
        "linked_accounts": "Linked accounts",
        "linked_since": "linked on",
        "unlink": "Unlink",
        "link_another": "Link another platform",
        "consents_in_force": "Consents in force",
        "no_consents": "You have no consent in force.",
        "withdraw": "Withdraw",
        "title_link": "Link this account?",
        "link_ask": "Link your account at this platform to your Accord identity?",
        "link_confirm": "Link",
        "link_merge_warning": "This account belongs to another Accord identity. Confirming"
        " merges that identity into yours: its accounts and consents become yours.",
        "link_merge": "Merge the two identities",
        "title_erased": "Your Accord identity is erased",
        "erased": "You removed your last linked account, so your Accord identity and its"
        " consents were erased. Every recipient was told.",
    },
    "zh": {
        "title_signin": "使用联盟账号登录",
        "choose": "请选择用于登录的平台。您将在该平台完成登录，然后回到这里确认。",
        "for_client": "以继续访问",
        "continue_with": "通过以下平台继续：",
        "title_consent": "请确认授权内容",
        "recipient": "接收方",
        "contact": "联系方式",
        "purpose": "目的",
        "categories": "数据类别",
        "valid_until": "有效期",
        "days": "天",
        "required": "登录所必需",
        "optional": "可选：允许",
        "already": "已授权",
        "approve": "允许所选项目",
        "deny": "拒绝",
        "withdraw_note": "您可以随时在授权中心撤回任何同意，与给予同意一样方便。",
        "title_error": "无法继续登录",
        "title_logout": "退出联盟账号",
        "logout_ask": "要在此浏览器中退出联盟账号吗？通过本次登录访问的所有网站都将失去访问权限。",
        "logout_from": "发起方",
        "logout_confirm": "退出",
        "title_signed_out": "已退出",
        "signed_out": "您已在此浏览器中退出联盟账号。",
        "title_center": "联盟授权中心",
        "center_signin": "请通过任一已关联到您联盟身份的平台登录。",
        "linked_accounts": "已关联账号",
        "linked_since": "关联于",
        "unlink": "解除关联",
        "link_another": "关联其他平台",
        "consents_in_force": "生效中的同意",
        "no_consents": "您没有生效中的同意。",
        "withdraw": "撤回",
        "title_link": "关联此账号？",
        "link_ask": "要将您在该平台的账号关联到您的联盟身份吗？",
        "link_confirm": "关联",
        "link_merge_warning": "该账号属于另一个联盟身份。确认后，该身份将并入您的身份："
        "其账号和同意将归您所有。",
        "link_merge": "合并两个身份",
        "title_erased": "您的联盟身份已删除",
        "erased": "您解除了最后一个已关联账号，因此您的联盟身份及其同意已被删除，"
        "所有接收方均已收到通知。",
    },
}


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("gateway.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language(request: Request) -> str:
    """zh or en, from ``?lang=`` or Accept-Language (English when unsure)."""
    chosen = request.query_params.get("lang")
    if chosen in TEXT:
        return chosen
    header = request.headers.get("accept-language", "").lower()
    return "zh" if header.startswith("zh") else "en"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    html = environment().get_template(template).render(lang=lang, t=TEXT[lang], **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def csrf_token(secret: bytes, browser: str) -> str:
    digest = hmac.new(secret, f"csrf|{browser}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_ok(secret: bytes, browser: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret, browser), presented or "")
