"""The registrar's work in the console: every outcome the institution posted (search, filters,
pages that stay fast over thousands of rows; revoking with a reason), and the learners' correction
requests (accept: the correction is posted and the old outcome's credits reversed in the ledger;
decline: with a reason the learner reads).

Learner names appear only where the institution may read them now (the learner's live grant, or a
transfer to it waiting for its decision); every name shown is logged as a read. Elsewhere the list
shows the learner's id only.
"""

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from creditbank.auth.deps import PageInstitution, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.i18n import msg
from creditbank.institutions import service as institutions
from creditbank.learners import service as learners
from creditbank.outcomes import corrections, listing, records
from creditbank.outcomes.models import Outcome, RecognitionStatus
from creditbank.web import forms, pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])

STATUSES = tuple(s.value for s in RecognitionStatus)


@router.get("/console/outcomes", response_class=HTMLResponse, dependencies=[Public])
def outcome_list(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    q: Annotated[
        str, Query(description="reference or title contains, or an outcome or learner id", max_length=120)
    ] = "",
    status: Annotated[str, Query(description="one recognition status", max_length=16)] = "",
    outcome_type: Annotated[str, Query(alias="type", description="one outcome type", max_length=32)] = "",
    after: Annotated[str | None, Query(description="the cursor of the page before", max_length=120)] = None,
    notice: Annotated[Literal["revoked"] | None, Query(description="a finished action to confirm")] = None,
    ref: Annotated[str | None, Query(description="what the action concerned", max_length=40)] = None,
) -> HTMLResponse:
    """The institution's outcomes, newest first, 50 a page (keyset: `after` is the last row's
    cursor), searched and filtered; a sign-in form for anyone but an institution."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is None or who.role is not Role.institution:
        error = t("signin.wrong_role_console", role=t(f"role.{who.role.value}")) if who else None
        return pages.signin_page(request, ctx, who, target="/console", error=error)
    kind = outcome_type if outcome_type in forms.OUTCOME_TYPES else ""
    filters = listing.Filters(text=q, status=status if status in STATUSES else "", outcome_type=kind)
    found = pages.attempt(session, lambda: listing.page(session, who, filters, after=after))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, "/console/outcomes")
    names = learners.names_an_institution_may_read(
        session,
        ctx.secrets.master_key,
        who,
        [o.learner_id for o, _ in found.rows],
        "name (outcome list)",
    )
    return render(
        request,
        ctx,
        who,
        "outcome_list.html",
        active="console",
        page=found,
        names=names,
        filters=filters,
        statuses=STATUSES,
        outcome_types=forms.OUTCOME_TYPES,
        first_page=after is None,
        notice=t("console.revoked_outcome", id=ref or "") if notice == "revoked" and ref else None,
    )


@router.post("/console/outcomes/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
def outcome_list_revoke(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    outcome_id: Annotated[str, Form(description="an outcome you posted", max_length=40)] = "",
    reason: Annotated[str, Form(description="why it is revoked", max_length=500)] = "",
) -> Response:
    """Revoke an outcome from the list, with a reason (its credits are reversed in the ledger)."""
    t = translator(request)
    refused = pages.without_reason(
        request,
        ctx,
        who,
        reason,
        title=t("console.revoke"),
        field=t("console.revoke_reason"),
        back="/console/outcomes",
    )
    if refused is not None:
        return refused
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: corrections.revoke(session, outcome_id.strip(), who.subject or "", reason.strip()),
        back="/console/outcomes",
        then=lambda done: f"/console/outcomes?notice=revoked&ref={done.outcome.id}",
    )


# -- a learner's correction request: accept (post the correction) or decline --------------------------


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _values_of(outcome: Outcome) -> dict[str, str]:
    """The outcome form filled with the outcome's facts (what the registrar corrects)."""
    values = {
        name: _shown(getattr(outcome, name, None))
        for name in forms.FORM_FIELDS
        if name not in ("identity_number", "learner_name")
    }
    values["identity_number"] = values["learner_name"] = ""
    values["identity_verified"] = "on" if outcome.identity_verified else ""
    values["attributes"] = "\n".join(f"{k}={v}" for k, v in sorted((outcome.attributes or {}).items()))
    return values


def _correction_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    outcome_id: str,
    *,
    form: forms.OutcomeForm | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found = pages.attempt(session, lambda: records.get_outcome(session, outcome_id))
    if isinstance(found, CreditBankError) or found[0].institution_id != who.subject:
        missing = records.OutcomeNotFound(
            msg("detail.outcomes.corrections.no_outcome_yours", outcome_id=outcome_id)
        )
        return pages.error_page(request, ctx, who, missing, "/console#corrections")
    outcome, recognition = found
    requests = [e for o, e in records.open_correction_requests(session, who) if o.id == outcome.id]
    if form is None:
        form = forms.OutcomeForm(values=_values_of(outcome))
    return render(
        request,
        ctx,
        who,
        "correction.html",
        status=status_code,
        active="console",
        outcome=outcome,
        recognition=recognition,
        requests=requests,
        form=form,
        outcome_types=forms.OUTCOME_TYPES,
    )


@router.get("/console/corrections/{outcome_id}", response_class=HTMLResponse)
def correction_form(
    outcome_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> HTMLResponse:
    """A learner's correction request on one of your outcomes: the outcome's facts in the outcome
    form, to correct and post, and a form to decline the request with a reason."""
    return _correction_page(request, session, ctx, who, outcome_id[:40])


def _accept(
    request: Request, session: Session, ctx: AppContext, who: Principal, outcome_id: str, data: dict[str, Any]
) -> Response:
    t = translator(request)
    form = forms.read_outcome_form(data, t)
    if form.item is None:
        return _correction_page(request, session, ctx, who, outcome_id, form=form, status_code=422)
    item = form.item
    institution = institutions.get(session, who.subject or "")
    done = pages.attempt(session, lambda: corrections.correct(session, ctx, institution, outcome_id, item))
    if isinstance(done, CreditBankError):
        form.error("", done.detail_in(t.lang))
        return _correction_page(request, session, ctx, who, outcome_id, form=form, status_code=done.status)
    new_id = done.new.outcome.id if done.new.outcome else ""
    return finish(pages.redirect(f"/console?notice=corrected&ref={new_id}#corrections"), request)


@router.post("/console/corrections/{outcome_id}", response_class=HTMLResponse, dependencies=[FormCsrf])
async def correction_accept(
    outcome_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Accept the request: post the corrected outcome (the fields of `OutcomeCreate`). The old
    outcome is superseded and its credits reversed in the ledger, in one transaction."""
    received = await request.form()
    data = {k: v for k, v in received.items() if isinstance(v, str)}
    return await run_in_threadpool(_accept, request, session, ctx, who, outcome_id[:40], data)


@router.post("/console/corrections/{outcome_id}/refuse", response_class=HTMLResponse, dependencies=[FormCsrf])
def correction_refuse(
    outcome_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    reason: Annotated[str, Form(description="why the outcome stays as it is", max_length=500)] = "",
) -> Response:
    """Decline the learner's open correction requests on this outcome, with a reason they read."""
    t = translator(request)
    refused = pages.without_reason(
        request,
        ctx,
        who,
        reason,
        title=t("correction.refuse"),
        field=t("console.reason"),
        back=f"/console/corrections/{outcome_id[:40]}",
    )
    if refused is not None:
        return refused
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: listing.refuse_correction(session, who, outcome_id[:40], reason.strip()),
        back="/console#corrections",
        then=lambda _: f"/console?notice=refused&ref={outcome_id[:40]}#corrections",
    )
