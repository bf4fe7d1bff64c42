"""The learner's inbox page (站内信; see :mod:`creditbank.archive.inbox`)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from creditbank.archive import inbox
from creditbank.auth.deps import PageLearner, Public
from creditbank.auth.models import Role
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.learners import service as learners
from creditbank.web import pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])


@router.get("/inbox", response_class=HTMLResponse, dependencies=[Public], summary="My inbox")
def inbox_page(request: Request, session: PageSession, ctx: ContextDep) -> Response:
    """The signed-in learner's messages, newest first, the unread ones marked; a sign-in form to others."""
    who = optional_principal(request, session, ctx)
    if who is not None and who.role is Role.learner and who.subject is None:
        return finish(pages.redirect("/account"), request)
    if who is None or who.role is not Role.learner or who.subject is None:
        return pages.signin_page(request, ctx, who, target="/archive")
    subject = who.subject
    learner = pages.attempt(session, lambda: learners.authorise_read(session, who, subject, "inbox"))
    if isinstance(learner, CreditBankError):
        return pages.error_page(request, ctx, who, learner, back="/")
    found = inbox.items(session, ctx.secrets.master_key, learner, expiry_days=ctx.settings.expiry_notice_days)
    return render(
        request, ctx, who, "inbox.html", active="inbox", items=found, unread=sum(1 for i in found if i.unread)
    )


@router.post("/inbox/read", response_class=HTMLResponse, dependencies=[FormCsrf])
def mark_read(request: Request, session: PageSession, ctx: ContextDep, who: PageLearner) -> Response:
    """Mark every message read."""
    inbox.mark_read(session, who.subject or "")
    return finish(pages.redirect("/inbox"), request)
