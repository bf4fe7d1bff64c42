"""The graduation audit pages (学业进度): the learner's own (``/progress``) and the registrar's for
each learner of a programme (``/console/programmes/{id}/progress``; :mod:`creditbank.catalog.progress`)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from creditbank.auth.deps import PageInstitution, Public
from creditbank.auth.models import Role
from creditbank.catalog import courses, progress
from creditbank.catalog import service as catalog
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.web import pages
from creditbank.web.pages import PageSession
from creditbank.web.rendering import finish, render
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])


@router.get("/progress", response_class=HTMLResponse, dependencies=[Public], summary="My graduation audit")
def my_progress(request: Request, session: PageSession, ctx: ContextDep) -> Response:
    """The signed-in learner's progress in each programme they are admitted into: per category the
    credits earned, converted, planned and missing, and what would fill the gaps."""
    who = optional_principal(request, session, ctx)
    if who is not None and who.role is Role.learner and who.subject is None:
        return finish(pages.redirect("/account"), request)
    if who is None or who.role is not Role.learner or who.subject is None:
        return pages.signin_page(request, ctx, who, target="/progress")
    subject = who.subject
    audits = [
        progress.audit(session, ctx, who, row.programme_id, subject)
        for row in courses.programmes_of_learner(session, subject)
    ]
    return render(request, ctx, who, "progress.html", active="progress", audits=audits, registrar=False)


@router.get(
    "/console/programmes/{programme_id}/progress", response_class=HTMLResponse, summary="Programme progress"
)
def programme_progress(
    programme_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """The registrar's view of a programme: each admitted learner's figures per category."""
    found = pages.attempt(
        session,
        lambda: [
            progress.audit(session, ctx, who, programme_id, row.learner_id, suggestions=False)
            for row in courses.programme_learners(session, who, programme_id)
        ],
    )
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, back="/console")
    programme = catalog.get_programme(session, programme_id)
    return render(
        request, ctx, who, "programme_progress.html", active="console", programme=programme, audits=found
    )


@router.get(
    "/console/programmes/{programme_id}/progress/{learner_id}",
    response_class=HTMLResponse,
    summary="A learner's progress (registrar)",
)
def learner_progress(
    programme_id: str,
    learner_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
) -> Response:
    """One learner's progress as the programme's registrar sees it (suggestions from the learner's
    lots only under the learner's grant)."""
    found = pages.attempt(session, lambda: progress.audit(session, ctx, who, programme_id, learner_id))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, back=f"/console/programmes/{programme_id}/progress")
    return render(request, ctx, who, "progress.html", active="console", audits=[found], registrar=True)
