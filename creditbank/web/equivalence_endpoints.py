"""Course equivalences in the console: the institution's published equivalences, and a form that
checks a draft with the rule engine's schemas and previews which of the demo world's lots it would
convert (:mod:`creditbank.catalog.equivalence_preview`) before it is saved."""

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from creditbank.auth.deps import PageInstitution, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import equivalence_preview
from creditbank.catalog import service as catalog
from creditbank.catalog.schemas import EquivalenceCreate
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.i18n import Translator
from creditbank.outcomes.rulesets import rule_book
from creditbank.rule_engine.models import ConversionPlan
from creditbank.web import forms, pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])

FIELDS = (
    "destination_kind",
    "destination_code",
    "destination_title_zh",
    "destination_title_en",
    "credits",
    "source_institution_id",
    "requires",
    "grade_mapping",
)
JSON_FIELDS = ("requires", "grade_mapping")
EXAMPLE = {"requires": '{"lot": {"outcome_type": "training_course", "field": "web_front_end"}}'}


def _page(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    *,
    form: forms.OutcomeForm | None = None,
    plan: ConversionPlan | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        ctx,
        who,
        "equivalences.html",
        status=status_code,
        active="console",
        equivalences=catalog.list_equivalences(session, who.subject or ""),
        form=form or forms.OutcomeForm(values=dict(EXAMPLE)),
        plan=plan,
        notice=notice,
    )


@router.get("/console/equivalences", response_class=HTMLResponse, dependencies=[Public])
def equivalences_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    saved: Annotated[str | None, Query(description="the equivalence just saved", max_length=40)] = None,
) -> HTMLResponse:
    """The institution's course equivalences and the form for a new one (a sign-in form for anyone
    but an institution)."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is None or who.role is not Role.institution:
        error = t("signin.wrong_role_console", role=t(f"role.{who.role.value}")) if who else None
        return pages.signin_page(request, ctx, who, target="/console", error=error)
    notice = t("equivalences.saved", id=saved) if saved else None
    return _page(request, session, ctx, who, notice=notice)


def _read(data: dict[str, str], t: Translator) -> tuple[forms.OutcomeForm, EquivalenceCreate | None]:
    """The draft's values, its problems by field, and the draft when the API's schema takes it."""
    form = forms.OutcomeForm(values={name: data.get(name, "").strip() for name in FIELDS})
    body: dict[str, Any] = {}
    for name in FIELDS:
        value = form.values[name]
        if not value:
            continue
        if name in JSON_FIELDS:
            try:
                body[name] = json.loads(value)
            except ValueError:
                form.error(name, t("equivalences.json_invalid"))
        else:
            body[name] = value
    if form.errors:
        return form, None
    try:
        draft = EquivalenceCreate.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ())]
            key = f"err.{error.get('type', '')}"
            message = t(key) if t.has(key) else str(error.get("msg", ""))
            form.error(loc[0] if loc and loc[0] in FIELDS else "", message)
        return form, None
    try:
        catalog.draft_rule("ins-draft", draft)
    except catalog.EquivalenceInvalid as exc:  # the rule engine's schemas: say which field
        where = str(exc.extensions.get("where", ""))
        form.error(
            "grade_mapping" if where.startswith("grade_mapping") else "requires", exc.detail_in(t.lang)
        )
        return form, None
    return form, draft


def _submit(
    request: Request, session: Session, ctx: AppContext, who: Principal, data: dict[str, str]
) -> Response:
    t = translator(request)
    form, draft = _read(data, t)
    if draft is None:
        return _page(request, session, ctx, who, form=form, status_code=422)
    institution_id = who.subject or ""
    if data.get("action") == "save":
        done = pages.attempt(session, lambda: catalog.create_equivalence(session, institution_id, draft))
        if not isinstance(done, CreditBankError):
            return finish(pages.redirect(f"/console/equivalences?saved={done.id}#list"), request)
        form.error("requires", done.detail_in(t.lang))
        return _page(request, session, ctx, who, form=form, status_code=done.status)
    today = dt.date.today()
    rule_set = rule_book(ctx.settings.rules_dir).in_force(today)
    plan = pages.attempt(session, lambda: equivalence_preview.preview(rule_set, institution_id, draft, today))
    if isinstance(plan, CreditBankError):
        form.error("requires", plan.detail_in(t.lang))
        return _page(request, session, ctx, who, form=form, status_code=plan.status)
    return _page(request, session, ctx, who, form=form, plan=plan)


@router.post("/console/equivalences", response_class=HTMLResponse, dependencies=[FormCsrf])
async def equivalences_submit(
    request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Preview a draft equivalence on the demo world's lots (`action=preview`, nothing stored), or
    save it (`action=save`): the fields of `EquivalenceCreate`, `requires` and `grade_mapping` as
    JSON, checked with the rule engine's schemas; problems are shown by field."""
    received = await request.form()
    data = {k: v for k, v in received.items() if isinstance(v, str)}
    return await run_in_threadpool(_submit, request, session, ctx, who, data)
