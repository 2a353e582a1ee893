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
        "suggestions": "Accounts you may also have",
        "suggestions_note": "Two platforms verified the same phone number or email for an"
        " account here and one elsewhere. Nothing is linked unless you link it.",
        "suggestion_phone": "same verified phone number",
        "suggestion_email": "same verified email",
        "suggestion_link": "Check and link",
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
        "valid_through": "Valid until",
        "valid_from": "valid from",
        "receipt": "Receipt",
        "receipts": "Signed receipts",
        "event_given": "given",
        "event_renewed": "renewed",
        "event_withdrawn": "withdrawn",
        "event_revoked": "revoked",
        "event_expired": "expired",
        "event_invalidated": "invalidated",
        "consent_history": "Consents no longer in force",
        "history_note": "Consents you withdrew, that expired, or that a recipient or the"
        " alliance ended, kept with their receipts as evidence.",
        "no_history": "None.",
        "state_withdrawn": "Withdrawn",
        "state_expired": "Expired",
        "state_revoked": "Revoked by the recipient or the alliance",
        "state_invalidated": "Invalidated: the notice it rested on changed",
        "ended_on": "on",
        "access_log": "Who read your data",
        "access_note": "The latest 100 times a member platform or brand read your data"
        " through Accord.",
        "no_access": "No member has read your data through Accord yet.",
        "when": "When",
        "reader": "Who",
        "what": "What",
        "what_userinfo": "Read your sign-in identity",
        "what_token_exchange": "Received your sign-in from another member",
        "what_view": "Read your profile across your linked platforms",
        "your_requests": "Your data requests",
        "requests_note": "Ask for a copy of everything Accord holds about you, or to be"
        " erased. A request for a copy is answered within 30 days; erasure happens at once,"
        " after you confirm it.",
        "export_ask": "Export my data",
        "erase_ask": "Erase my identity",
        "no_requests": "You have made no request.",
        "kind": "Request",
        "kind_export": "Copy of my data",
        "kind_erasure": "Erasure",
        "asked_through": "Asked through",
        "asked_here": "this consent center",
        "received_on": "Received",
        "due_on": "Due by",
        "state": "State",
        "request_received": "Received, being processed",
        "request_completed": "Completed",
        "request_refused": "Refused",
        "reason": "Reason",
        "download_export": "Download the copy",
        "title_erase": "Erase your Accord identity?",
        "erase_warning": "Erasing removes your Accord identity at once: your linked accounts,"
        " every consent with its history, your sign-ins and the record of who read your data."
        " Every platform and brand that holds something about you is told. This cannot be"
        " undone: signing in again makes a new, empty identity.",
        "erase_note": "Your accounts at the platforms themselves are not deleted: ask each"
        " platform for that.",
        "erase_confirm": "Erase my identity now",
        "erase_cancel": "Keep my identity",
        "erased_asked": "As you asked, your Accord identity, its linked accounts and its"
        " consents were erased. Every recipient was told.",
        "request_ref": "Request",
        "completed_on": "Completed",
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
        "suggestions": "您可能还拥有的账号",
        "suggestions_note": "两个平台为此处的账号和另一处的账号验证了相同的手机号或邮箱。"
        "除非您亲自关联，否则不会关联任何账号。",
        "suggestion_phone": "相同的已验证手机号",
        "suggestion_email": "相同的已验证邮箱",
        "suggestion_link": "核实并关联",
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
        "valid_through": "有效期至",
        "valid_from": "生效于",
        "receipt": "凭证",
        "receipts": "签名凭证",
        "event_given": "给予",
        "event_renewed": "续期",
        "event_withdrawn": "撤回",
        "event_revoked": "撤销",
        "event_expired": "过期",
        "event_invalidated": "失效",
        "consent_history": "已不再生效的同意",
        "history_note": "您撤回的、已过期的，或被接收方或联盟终止的同意，"
        "连同其凭证一并保留作为证据。",
        "no_history": "无。",
        "state_withdrawn": "已撤回",
        "state_expired": "已过期",
        "state_revoked": "已被接收方或联盟撤销",
        "state_invalidated": "已失效：其所依据的告知已变更",
        "ended_on": "于",
        "access_log": "谁读取了您的数据",
        "access_note": "成员平台或品牌通过联盟读取您数据的最近 100 次记录。",
        "no_access": "尚无成员通过联盟读取您的数据。",
        "when": "时间",
        "reader": "读取方",
        "what": "内容",
        "what_userinfo": "读取了您的登录身份",
        "what_token_exchange": "从另一成员处获得了您的登录",
        "what_view": "读取了您在已关联平台上的统一画像",
        "your_requests": "您的数据请求",
        "requests_note": "您可以申请获取联盟所持有的关于您的全部数据的副本，或申请删除。"
        "副本申请将在 30 天内答复；删除在您确认后立即执行。",
        "export_ask": "导出我的数据",
        "erase_ask": "删除我的身份",
        "no_requests": "您尚未提出任何请求。",
        "kind": "请求",
        "kind_export": "我的数据副本",
        "kind_erasure": "删除",
        "asked_through": "提出途径",
        "asked_here": "本授权中心",
        "received_on": "收到于",
        "due_on": "答复期限",
        "state": "状态",
        "request_received": "已收到，处理中",
        "request_completed": "已完成",
        "request_refused": "已拒绝",
        "reason": "理由",
        "download_export": "下载副本",
        "title_erase": "删除您的联盟身份？",
        "erase_warning": "删除将立即移除您的联盟身份：已关联账号、每一项同意及其历史、"
        "您的登录记录以及数据读取记录。所有持有您信息的平台和品牌都会收到通知。"
        "此操作无法撤销：再次登录将创建一个新的空白身份。",
        "erase_note": "您在各平台本身的账号不会被删除：如需删除，请向各平台申请。",
        "erase_confirm": "立即删除我的身份",
        "erase_cancel": "保留我的身份",
        "erased_asked": "按照您的请求，您的联盟身份、其已关联账号及其同意已被删除，"
        "所有接收方均已收到通知。",
        "request_ref": "请求",
        "completed_on": "完成于",
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
