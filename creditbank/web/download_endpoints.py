"""The learner's downloads: certificates as JSON and PDF, the transcript, the export of the archive,
and a certificate behind a share link (see :mod:`creditbank.web.pages` for who may call what).
"""

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from creditbank.archive import service as archive
from creditbank.auth.deps import PageLearner, Public
from creditbank.auth.service import Principal
from creditbank.credentials import service as certificates
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.i18n import msg
from creditbank.learners import access
from creditbank.learners import service as learners
from creditbank.limits import Heavy
from creditbank.web import pages, pdf, sheets, views
from creditbank.web.pages import PageSession
from creditbank.web.rendering import translator
from creditbank.web.share import ShareLinkInvalid, read_share_token

router = APIRouter(tags=["web pages"])


@router.get(
    "/share/{token}/certificates/{certificate_id}.json",
    dependencies=[Public],
    responses={200: {"content": {"application/json": {}}, "description": "the signed credential"}},
)
def shared_certificate_json(
    token: str, certificate_id: str, request: Request, session: PageSession, ctx: ContextDep
) -> Response:
    """Download one of the learner's certificates through the learner's share link (logged in the
    learner's access log)."""
    link_id = read_share_token(ctx.secrets.session_secret, token)
    grant = access.live_share_link(session, link_id) if link_id else None
    found = pages.attempt(session, lambda: certificates.get(session, certificate_id))
    if grant is None or isinstance(found, CreditBankError) or found.learner_id != grant.learner_id:
        # a JSON download answers a JSON problem (the same whether the link or the certificate is wrong)
        raise ShareLinkInvalid(msg("detail.web.download_endpoints.share_link_valid_holds"))
    certificates.log_share_read(session, found, grant.id)
    return _credential_download(found)


@router.get(
    "/archive/export.json",
    responses={200: {"content": {"application/json": {}}, "description": "the archive as a JSON file"}},
)
def download_export(session: PageSession, ctx: ContextDep, who: PageLearner) -> Response:
    """Download everything the bank holds about the signed-in learner as one JSON file (the page's
    counterpart of `GET /api/v1/learners/{id}/archive/export`, which takes bearer tokens only)."""
    learner = learners.authorise_read(session, who, who.subject or "", "archive-export")
    export = archive.build_export(session, ctx.secrets.master_key, learner)
    return Response(
        json.dumps(export.model_dump(mode="json"), ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="creditbank-archive-{learner.id}.json"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _own_certificate(session: Session, who: Principal, certificate_id: str) -> Any:
    return certificates.authorise_read(session, who, certificate_id)


@router.get(
    "/archive/certificates/{certificate_id}.json",
    responses={200: {"content": {"application/json": {}}, "description": "the signed credential"}},
)
def download_certificate_json(certificate_id: str, session: PageSession, who: PageLearner) -> Response:
    """Download one of the learner's certificates as its signed JSON (Open Badges 3.0 / CLR 2.0)."""
    return _credential_download(_own_certificate(session, who, certificate_id))


def _credential_download(row: Any) -> Response:
    body = json.dumps(row.document, ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{row.id}.json"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/archive/certificates/{certificate_id}.pdf",
    dependencies=[Heavy],
    responses={200: {"content": {"application/pdf": {}}, "description": "the certificate as a PDF"}},
)
def download_certificate_pdf(
    certificate_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageLearner
) -> Response:
    """Download one of the learner's certificates as a PDF with a QR code that opens its verification."""
    row = _own_certificate(session, who, certificate_id)
    page = views.archive_page(session, ctx, who.subject or "")
    cert = views.certificate_views([row])[0]
    data = pdf.certificate_pdf(
        sheets.certificate_sheet(page, cert, ctx.settings.base_url), translator(request)
    )
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{row.id}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/archive/transcript.pdf",
    dependencies=[Heavy],
    responses={200: {"content": {"application/pdf": {}}, "description": "the archive as a PDF"}},
)
def download_transcript(
    request: Request, session: PageSession, ctx: ContextDep, who: PageLearner
) -> Response:
    """Download the whole archive as a PDF transcript."""
    page = views.archive_page(session, ctx, who.subject or "")
    data = pdf.transcript_pdf(sheets.transcript_sheet(page, ctx.settings.base_url), translator(request))
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="transcript-{who.subject}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
