"""The verification page: anyone checks a certificate (see :mod:`creditbank.web.pages`)."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from creditbank import jsontext
from creditbank.auth.deps import Public
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.credentials import service as certificates
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.limits import VERIFY, body_limit
from creditbank.web import log_views, pages, views
from creditbank.web.pages import PageSession
from creditbank.web.rendering import render, translator
from creditbank.web.session import (
    is_secure,
    optional_principal,
)

SEEN_COOKIE = "cb_seen"
MAX_CERTIFICATE_BYTES = 2 * 1024 * 1024

router = APIRouter(tags=["web pages"])


@dataclass(frozen=True)
class Claims:
    name: str
    credits: str
    issuer: str
    valid: str


def _claims(document: Any) -> Claims | None:
    if not isinstance(document, dict):
        return None
    subject = document.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    issuer = document.get("issuer")
    issuer_name = issuer.get("name") if isinstance(issuer, dict) else issuer
    earned = subject.get("creditsEarned")
    return Claims(
        name=str(document.get("name", "")),
        credits=str(earned) if earned is not None else "",
        issuer=str(issuer_name or ""),
        valid=f"{document.get('validFrom', '-')} – {document.get('validUntil', '-')}",
    )


def _verify_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    *,
    document: Any = None,
    text: str = "",
    learner_id: str = "",
    error: str | None = None,
    certificate_id: str | None = None,
    download: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    who = optional_principal(request, session, ctx)
    t = translator(request)
    report, record = None, None
    if document is not None and error is None:
        report = certificates.verify(session, ctx, document, learner_id=learner_id or None)
        known = views.known_certificate(session, document, report)
        record = views.status_record(known) if known else None
    failed = ", ".join(t.label("check", name) for name in report.failed) if report else ""
    seen = log_views.parse_seen(request.cookies.get(SEEN_COOKIE))
    logs = log_views.log_views(session, seen)
    response = render(
        request,
        ctx,
        who,
        "verify.html",
        status=status_code,
        active="verify",
        report=report,
        reasons=[views.check_reason(t, c, record) for c in report.checks] if report else [],
        record=record,
        failed=failed,
        claims=_claims(document) if report else None,
        text=text,
        learner_id=learner_id,
        error=error,
        certificate_id=certificate_id,
        download=download,
        logs=logs,
        base_url=ctx.settings.base_url.rstrip("/"),
    )
    response.set_cookie(
        SEEN_COOKIE,
        log_views.format_seen(logs, seen),
        max_age=5 * 365 * 86400,
        httponly=True,
        samesite="lax",
        secure=is_secure(ctx),
    )
    return response


@router.get("/verify", response_class=HTMLResponse, dependencies=[Public])
def verify_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    certificate: Annotated[
        str | None, Query(description="a certificate id (crt_...) to verify", max_length=40)
    ] = None,
) -> HTMLResponse:
    """The auditor's page: verify a certificate, and check that the logs were only appended to.

    With ``?certificate=crt_...`` (the QR code of a printed certificate) it shows the verdict and
    what the printed certificate says, never the signed credential: that goes only to the learner,
    the destination the learner named, and through the learner's share link."""
    t = translator(request)
    if certificate:
        found = pages.attempt(session, lambda: certificates.get(session, certificate))
        if isinstance(found, CreditBankError):
            return _verify_page(
                request, session, ctx, error=t("verify.unknown_certificate", id=certificate), status_code=404
            )
        who = optional_principal(request, session, ctx)
        own = who is not None and who.role is Role.learner and who.subject == found.learner_id
        return _verify_page(
            request,
            session,
            ctx,
            document=found.document,
            certificate_id=found.id,
            download=f"/archive/certificates/{found.id}.json" if own else None,
        )
    return _verify_page(request, session, ctx)


@router.post("/verify", response_class=HTMLResponse, dependencies=[Public], openapi_extra=body_limit(VERIFY))
def verify_submitted(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    certificate: Annotated[str, Form(description="the certificate JSON, pasted")] = "",
    upload: Annotated[UploadFile | None, File(description="or the certificate JSON file")] = None,
    learner_id: Annotated[str, Form(description="optional: check the holder", max_length=40)] = "",
) -> HTMLResponse:
    """Verify a pasted or uploaded certificate: every check with its result and reason."""
    t = translator(request)
    text = certificate
    if upload is not None and upload.filename:
        raw = upload.file.read(MAX_CERTIFICATE_BYTES + 1)
        if len(raw) > MAX_CERTIFICATE_BYTES:
            error = t("verify.too_large", kb=MAX_CERTIFICATE_BYTES // 1024)
            return _verify_page(request, session, ctx, error=error, status_code=413)
        text = raw.decode("utf-8-sig", errors="replace")
    if len(text) > MAX_CERTIFICATE_BYTES:
        error = t("verify.too_large", kb=MAX_CERTIFICATE_BYTES // 1024)
        return _verify_page(request, session, ctx, error=error, status_code=413)
    if not text.strip():
        return _verify_page(request, session, ctx, error=t("verify.empty"), status_code=422)
    try:
        document = jsontext.loads(text)
    except jsontext.JsonInvalid as exc:
        return _verify_page(
            request,
            session,
            ctx,
            text=text,
            error=t("verify.not_json", error=exc.detail_in(t.lang)),
            status_code=422,
        )
    return _verify_page(request, session, ctx, document=document, text=text, learner_id=learner_id.strip())
