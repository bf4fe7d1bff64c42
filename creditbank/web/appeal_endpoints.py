"""Appeals on the web (申诉/复核): the learner's form and list, the city centre's queue and decision.

* ``/appeals/new?outcome_id=…``: the form to appeal a rejection or a recognition's credits, with a
  statement and evidence files, while the period runs (a sentence saying why not otherwise);
  ``POST /appeals`` files it through the same checks as the API's ``POST /api/v1/appeals``. A
  form that fails is shown again with the problem in the reader's language, and nothing of it is
  kept. ``/appeals`` lists the learner's appeals with their state and decision.
* ``/console/appeals``: the open appeals for the city centre's reviewers (a sub-centre's reviewer
  gets a 403 page); ``/console/appeals/{id}`` one appeal with the decision it contests, the
  outcome's history and the evidence, and the form to uphold or change the credits. A reviewer who
  took part in the decision reads why they may not decide it (403).

The evidence files are served by the applications' viewer (:mod:`.application_endpoints`).
"""

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from creditbank.applications import appeal_views, appeals
from creditbank.applications import views as api
from creditbank.auth.deps import PageLearner, PageReviewer, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.limits import APPLICATION, body_limit
from creditbank.outcomes import review
from creditbank.web import pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])

OutcomeId = Annotated[str, Form(max_length=40, description="the outcome whose decision is appealed")]
Statement = Annotated[str, Form(max_length=2000, description="why the learner appeals")]
Files = Annotated[list[UploadFile] | None, File(description="evidence: PDF, JPEG or PNG")]
MAX_CREDITS = Decimal(100)


def _learner(request: Request, session: Session, ctx: AppContext, target: str) -> Principal | Response:
    """The signed-in learner, or the page to show instead: a sign-in form, or the account page of an
    account not verified yet."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is not None and who.role is Role.learner and who.subject is None:
        return finish(pages.redirect("/account"), request)
    if who is None or who.role is not Role.learner:
        error = t("signin.wrong_role_archive", role=t(f"role.{who.role.value}")) if who else None
        return pages.signin_page(request, ctx, who, target=target, error=error)
    return who


def _form(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    outcome_id: str,
    *,
    error: str | None = None,
    statement: str = "",
    status_code: int = 200,
) -> Response:
    found = pages.attempt(session, lambda: appeal_views.form_of(session, ctx, who.subject or "", outcome_id))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, back="/appeals")
    return render(
        request,
        ctx,
        who,
        "appeal_form.html",
        status=status_code,
        active="appeals",
        form=found,
        refusal=pages.said(request, found.refusal) if found.refusal else None,
        error=error,
        statement=statement,
        days=ctx.settings.appeal_days,
        limits=ctx.settings,
    )


@router.get("/appeals", response_class=HTMLResponse, dependencies=[Public], summary="My appeals")
def appeals_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    done: Annotated[Literal["filed"] | None, Query(description="a finished action to confirm")] = None,
) -> Response:
    """The signed-in learner's appeals with their state and decision; a sign-in form to others."""
    who = _learner(request, session, ctx, "/appeals")
    if isinstance(who, Response):
        return who
    return render(
        request,
        ctx,
        who,
        "appeals.html",
        active="appeals",
        items=appeal_views.of_learner(session, who.subject or ""),
        done=done,
        days=ctx.settings.appeal_days,
    )


@router.get("/appeals/new", response_class=HTMLResponse, dependencies=[Public], summary="Appeal a decision")
def new_appeal_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    outcome_id: Annotated[str, Query(max_length=40, description="the outcome whose decision is appealed")],
) -> Response:
    """The form to appeal one of the learner's decisions (a rejection or a recognition's credits)
    while the period runs; after it, or once appealed, the reason why not. Another learner's outcome
    is not found (404)."""
    who = _learner(request, session, ctx, "/appeals")
    if isinstance(who, Response):
        return who
    return _form(request, session, ctx, who, outcome_id.strip())


@router.post(
    "/appeals", response_class=HTMLResponse, openapi_extra=body_limit(APPLICATION), dependencies=[FormCsrf]
)
async def file_appeal_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    files: Files = None,
    outcome_id: OutcomeId = "",
    statement: Statement = "",
) -> Response:
    """Appeal from the page's form (see the API's ``POST /api/v1/appeals``)."""
    target = outcome_id.strip()
    try:
        checked = await api.read_files(files or [], ctx.settings)
    except CreditBankError as exc:
        return _form(
            request,
            session,
            ctx,
            who,
            target,
            error=pages.said(request, exc),
            statement=statement,
            status_code=exc.status,
        )
    done = pages.attempt(
        session, lambda: appeals.file_appeal(session, ctx, who.subject or "", target, statement, checked)
    )
    if isinstance(done, CreditBankError):
        return _form(
            request,
            session,
            ctx,
            who,
            target,
            error=pages.said(request, done),
            statement=statement,
            status_code=done.status,
        )
    return finish(pages.redirect(f"/appeals?done=filed#{done.appeal.id}"), request)


# -- the city centre's reviewers ---------------------------------------------------------------------


@router.get("/console/appeals", response_class=HTMLResponse, summary="Appeals to decide")
def appeal_queue(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageReviewer,
    notice: Annotated[Literal["decided"] | None, Query(description="a finished action to confirm")] = None,
    ref: Annotated[str | None, Query(description="the appeal just decided", max_length=40)] = None,
) -> Response:
    """The open appeals, oldest first, for the city centre's reviewers (403 for a sub-centre's);
    those the reviewer may not decide (they took part in the decision) say so."""
    found = pages.attempt(session, lambda: appeal_views.queue(session, who))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, back="/console")
    t = translator(request)
    return render(
        request,
        ctx,
        who,
        "appeal_queue.html",
        active="console",
        queue=found,
        refusals={q.item.appeal.id: pages.said(request, q.refusal) for q in found if q.refusal},
        notice=t("appeals.decided_notice", id=ref or "") if notice else None,
    )


def _case(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    appeal_id: str,
    *,
    error: str | None = None,
    kept: dict[str, str] | None = None,
    status_code: int | None = None,
) -> Response:
    found = pages.attempt(session, lambda: appeal_views.case(session, who, appeal_id))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, back="/console/appeals")
    took_part = isinstance(found.refusal, appeals.TookPartInDecision)
    return render(
        request,
        ctx,
        who,
        "appeal_review.html",
        status=status_code or (found.refusal.status if took_part and found.refusal else 200),
        active="console",
        case=found,
        refusal=pages.said(request, found.refusal) if found.refusal else None,
        error=error,
        kept=kept or {},
    )


@router.get("/console/appeals/{appeal_id}", response_class=HTMLResponse, summary="Decide an appeal")
def appeal_case(
    appeal_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageReviewer
) -> Response:
    """One appeal with the decision it contests, the outcome's history and the evidence (the
    application's and the appeal's), and the form to decide it. A reviewer who took part in the
    decision reads why they may not decide it (403); a sub-centre's reviewer may not open it (403)."""
    return _case(request, session, ctx, who, appeal_id)


def _credits(text: str) -> Decimal | None:
    """The credits typed, when they are a number above zero and at most 100."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and 0 < amount <= MAX_CREDITS else None


@router.post("/console/appeals/{appeal_id}/decision", response_class=HTMLResponse, dependencies=[FormCsrf])
def decide_appeal_page(
    appeal_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageReviewer,
    decision: Annotated[str, Form(description="uphold or change", max_length=10)] = "",
    reason: Annotated[str, Form(description="why (recorded in the ledger)", max_length=500)] = "",
    credits: Annotated[str, Form(description="the credits after a change", max_length=10)] = "",
) -> Response:
    """Decide an appeal from its page: uphold the decision, or change the credits (the old lot is
    reversed and a new one recorded). Only a city centre reviewer who took no part in the decision."""
    t = translator(request)
    kept = {"decision": decision, "reason": reason, "credits": credits}
    problems: list[str] = []
    if decision not in ("uphold", "change"):
        problems.append(f"{t('appeals.decision')}{t('common.colon')}{t('err.literal_error')}")
    if len(reason.strip()) < 2:
        problems.append(f"{t('appeals.reason')}{t('common.colon')}{t('err.missing')}")
    amount = _credits(credits.strip()) if credits.strip() else None
    if decision == "change" and amount is None:
        problems.append(f"{t('appeals.credits_after')}{t('common.colon')}{t('appeals.credits_hint')}")
    if problems:
        return _case(
            request, session, ctx, who, appeal_id, error="; ".join(problems), kept=kept, status_code=422
        )
    verdict: Literal["uphold", "change"] = "change" if decision == "change" else "uphold"
    done = pages.attempt(
        session,
        lambda: appeals.decide_appeal(
            session,
            appeal_id,
            reviewer=review.reviewer_of(session, who),
            decision=verdict,
            reason=reason.strip(),
            credits=amount if verdict == "change" else None,
        ),
    )
    if isinstance(done, CreditBankError):
        if done.status == 422:
            return _case(
                request,
                session,
                ctx,
                who,
                appeal_id,
                error=pages.said(request, done),
                kept=kept,
                status_code=422,
            )
        return pages.error_page(request, ctx, who, done, back=f"/console/appeals/{appeal_id}")
    return finish(pages.redirect(f"/console/appeals?notice=decided&ref={done.appeal.id}"), request)
