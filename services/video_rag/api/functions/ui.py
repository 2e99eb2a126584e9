"""The browser chat page: GET /api/ui serves `api/static/chat.html`.

The page is a client of the public API like any other front-end. It is served with a strict
Content-Security-Policy: its one inline script and its one inline style are allowed by their
SHA-256 hashes (computed from the file as served, so editing the page never breaks them), the
page may connect only to its own origin and to the origin of the API base it was pointed at with
`?api=`, and Trusted Types forbid every HTML-string sink (the page builds its DOM with
`textContent`). The only other origins it may use: YouTube's privacy-enhanced player
(`frame-src`), in which a citation plays its video at the cited moment, and YouTube's thumbnail
host (`img-src`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel, Field

from services.video_rag.api.routes import Operation, RawBody, Reply, Route, register

bp = func.Blueprint()

PAGE_PACKAGE = "services.video_rag.api"
PAGE_RESOURCE = ("static", "chat.html")
HTML_MIMETYPE = "text/html"
HTML_CONTENT_TYPE = f"{HTML_MIMETYPE}; charset=utf-8"
PLAYER_ORIGIN = "https://www.youtube-nocookie.com"
THUMBNAIL_ORIGIN = "https://i.ytimg.com"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*")
_IPV6_HOST = re.compile(r"[0-9A-Fa-f:.]{2,45}")


@dataclass(frozen=True)
class ChatPage:
    """The page's HTML and the CSP source expressions of its inline script and style."""

    html: str
    script_source: str
    style_source: str


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _only_block(pattern: re.Pattern[str], html: str, tag: str) -> str:
    blocks = pattern.findall(html)
    if len(blocks) != 1:
        raise RuntimeError(f"chat.html must hold exactly one plain <{tag}> element")
    return str(blocks[0])


def parse_page(html: str) -> ChatPage:
    """Hash the page's single inline `<script>` and `<style>` (raises if either is not unique)."""
    script = _only_block(_INLINE_SCRIPT, html, "script")
    style = _only_block(_INLINE_STYLE, html, "style")
    return ChatPage(html=html, script_source=_csp_hash(script), style_source=_csp_hash(style))


@functools.cache
def load_page() -> ChatPage:
    """The page, read from the package and hashed once per process, on first use."""
    resource = resources.files(PAGE_PACKAGE).joinpath(*PAGE_RESOURCE)
    return parse_page(resource.read_text(encoding="utf-8"))


def api_origin(api_base: str | None) -> str | None:
    """The origin (`scheme://host[:port]`) of an absolute http(s) API base URL, or None when
    `api_base` is absent, relative or malformed. The result is rebuilt from validated parts, so
    it is safe to put in a header."""
    if not api_base:
        return None
    try:
        parts = urlsplit(api_base.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        if not _IPV6_HOST.fullmatch(host):
            return None
        host = f"[{host}]"
    elif not _HOST_NAME.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def content_security_policy(page: ChatPage, extra_origin: str | None = None) -> str:
    """The page's policy; `extra_origin` (the API's, when it is elsewhere) joins `connect-src`."""
    connect = "'self'" + (f" {extra_origin}" if extra_origin else "")
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {page.script_source}",
            f"style-src {page.style_source}",
            f"connect-src {connect}",
            f"img-src data: {THUMBNAIL_ORIGIN}",
            f"frame-src {PLAYER_ORIGIN}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        )
    )


class UiQuery(BaseModel):
    """Query parameters of GET /ui."""

    api: str | None = Field(
        default=None,
        description="absolute base URL of the API the page should call (default: this app)",
    )


def get_ui(req: func.HttpRequest) -> func.HttpResponse:
    """Serve the chat page."""
    page = load_page()
    query = UiQuery.model_validate(dict(req.params))
    policy = content_security_policy(page, api_origin(query.api))
    return func.HttpResponse(
        page.html,
        status_code=200,
        headers={
            "Content-Type": HTML_CONTENT_TYPE,
            "Cache-Control": "no-cache",
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
        mimetype=HTML_MIMETYPE,
        charset="utf-8",
    )


ROUTES = (
    Route(
        "ui",
        "/ui",
        "meta",
        Operation(
            "GET",
            get_ui,
            "getChatPage",
            "The browser chat page",
            replies=(
                Reply(
                    200,
                    "The chat page, a client of this API.",
                    RawBody(HTML_MIMETYPE, {"type": "string", "description": "an HTML page"}),
                ),
            ),
            session="none",
            query=UiQuery,
        ),
    ),
)
register(bp, ROUTES)
