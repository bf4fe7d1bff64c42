"""Rendering pages: the Jinja2 environment, the reader's language, and the security headers.

Every HTML response carries a content security policy that allows nothing but this service
(``'self'``): no inline script or style, no other host for anything, no framing.
"""

import datetime as dt
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.i18n import DEFAULT_LANG, LANG_COOKIE, Lang, Said, Translator, parse_lang, text_of
from creditbank.web.session import CSRF_FIELD, csrf_token

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
"""Times are shown in Beijing time (UTC+8, no daylight saving)."""


def _credits(value: Decimal | str | int | None) -> str:
    if value is None or value == "":
        return "-"
    return f"{Decimal(str(value)).normalize():f}"


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _short(value: str | None, keep: int = 12) -> str:
    if not value:
        return "-"
    return value if len(value) <= keep + 1 else value[:keep] + "…"


ENV = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters["credits"] = _credits
ENV.filters["when"] = _when
ENV.filters["short"] = _short


def _said(value: Said | None, lang: Lang) -> str:
    """A message (or a ready text) in the page's language: ``{{ log.reason|said(t.lang) }}``."""
    return "" if value is None else text_of(value, lang)


ENV.filters["said"] = _said


def language(request: Request) -> tuple[Lang, bool]:
    """The reader's language and whether it was chosen by this request (``?lang=``)."""
    asked = parse_lang(request.query_params.get("lang"))
    if asked is not None:
        return asked, True
    return parse_lang(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANG, False


def translator(request: Request) -> Translator:
    return Translator(language(request)[0])


def switch_url(request: Request, lang: Lang) -> str:
    """The current page in the other language: the same GET with ``lang`` replaced; after a form
    post (which a link cannot repeat), the page the form belongs to."""
    if request.method != "GET":
        section = "/" + request.url.path.strip("/").split("/")[0]
        path = section if section in ("/archive", "/console", "/verify") else "/"
        return f"{path}?lang={lang}"
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    query.append(("lang", lang))
    return request.url.path + "?" + urlencode(query)


def _finish(response: Response, request: Request) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    lang, chosen = language(request)
    if chosen:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True, path="/")
    return response


def page_context(
    request: Request, ctx: AppContext, who: Principal | None, *, active: str = ""
) -> dict[str, Any]:
    t = translator(request)
    return {
        "request": request,
        "t": t,
        "lang": t.lang,
        "who": who,
        "active": active,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(request, ctx),
        "switch_url": switch_url(request, t.other),
    }


def render(
    request: Request,
    ctx: AppContext,
    who: Principal | None,
    template: str,
    *,
    status: int = 200,
    active: str = "",
    **values: Any,
) -> HTMLResponse:
    """Render a page template with the shared context and the security headers."""
    context = page_context(request, ctx, who, active=active)
    context.update(values)
    response = HTMLResponse(ENV.get_template(template).render(context), status_code=status)
    _finish(response, request)
    return response


def render_stream(
    request: Request,
    ctx: AppContext,
    who: Principal | None,
    template: str,
    *,
    active: str = "",
    **values: Any,
) -> StreamingResponse:
    """Render a page as it is produced (the browser shows it while the server still works)."""
    context = page_context(request, ctx, who, active=active)
    context.update(values)
    chunks: Iterator[str] = ENV.get_template(template).generate(context)
    response = StreamingResponse(chunks, media_type="text/html; charset=utf-8")
    _finish(response, request)
    return response


def finish(response: Response, request: Request) -> Response:
    """Add the security headers (and the language cookie) to a response made elsewhere."""
    return _finish(response, request)
