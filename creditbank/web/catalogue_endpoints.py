"""The catalogue of recognised outcomes (学习成果名录) in the browser: the list, with search and a
filter by outcome type, for everyone; adding, editing and retiring entries for the city centre only
(an admin, or a reviewer of the city centre; a district sub-centre's reviewer and an institution are
refused with a 403). Every change is a new catalogue version, exactly as through the API
(:mod:`creditbank.accreditation.service`).
"""

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from creditbank.accreditation import service as catalogue
from creditbank.accreditation.schemas import CatalogueEntryCreate, CatalogueEntryEdit
from creditbank.auth.deps import PageGuard, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError, Forbidden
from creditbank.i18n import Translator, msg
from creditbank.outcomes import review
from creditbank.outcomes.rulesets import NoRuleSetInForce, rule_book
from creditbank.rule_engine.models import OUTCOME_TYPES
from creditbank.web import forms, pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])

PageOperator = Annotated[Principal, Depends(PageGuard(Role.reviewer, Role.admin))]
"""The operators' pages: a reviewer (the city centre's or a sub-centre's) or an admin."""

ENTRY_FIELDS = ("code", "outcome_type", "name_zh", "name_en", "levels", "rule_id")
_LEVEL_SPLIT = re.compile(r"[,，、;；\n]+")


class CityCentreOnly(Forbidden):
    slug = "city-centre-only"
    title = "Only the city centre may do this"


def city_centre(session: Session, who: Principal) -> bool:
    """Whether the caller acts for the city centre: an admin, or a reviewer with no district."""
    return who.role is Role.admin or (who.role is Role.reviewer and review.scope_of(session, who) is None)


def require_city_centre(session: Session, who: Principal) -> None:
    """Raises: CityCentreOnly: a district sub-centre's reviewer (or any other role)."""
    if not city_centre(session, who):
        raise CityCentreOnly(msg("detail.web.catalogue.city_centre_only"))


def _rule_ids(ctx: AppContext) -> list[str]:
    try:
        return rule_book(ctx.settings.rules_dir).in_force(dt.date.today()).rule_ids()
    except NoRuleSetInForce:
        return []


def _levels(text: str) -> list[str]:
    return [part.strip() for part in _LEVEL_SPLIT.split(text) if part.strip()]


def _catalogue_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal | None,
    *,
    q: str = "",
    outcome_type: str = "",
    retired: bool = False,
    form: forms.OutcomeForm | None = None,
    editing: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    current = catalogue.current_version(session)
    entries = catalogue.search(session, text=q, outcome_type=outcome_type or None, retired=retired)
    return render(
        request,
        ctx,
        who,
        "catalogue.html",
        status=status_code,
        active="catalogue",
        entries=entries,
        current=current,
        recent=list(reversed(catalogue.versions(session)))[:10],
        q=q,
        outcome_type=outcome_type,
        retired=retired,
        outcome_types=OUTCOME_TYPES,
        rule_ids=_rule_ids(ctx),
        may_change=who is not None and city_centre(session, who),
        form=form or forms.OutcomeForm(),
        editing=editing,
        notice=notice,
    )


@router.get("/console/catalogue", response_class=HTMLResponse, dependencies=[Public])
def catalogue_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    q: Annotated[str, Query(description="code or name contains", max_length=100)] = "",
    outcome_type: Annotated[str, Query(alias="type", description="one outcome type", max_length=32)] = "",
    retired: Annotated[bool, Query(description="also the retired entries")] = False,
    notice: Annotated[str | None, Query(description="the entry just changed", max_length=60)] = None,
) -> HTMLResponse:
    """The catalogue of recognised outcomes in force (search by code or name, filter by type); the
    city centre also gets the forms that add, edit and retire entries."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    kind = outcome_type if outcome_type in OUTCOME_TYPES else ""
    return _catalogue_page(
        request,
        session,
        ctx,
        who,
        q=q,
        outcome_type=kind,
        retired=retired,
        notice=t("catalogue.changed", code=notice) if notice else None,
    )


def _read_entry(data: dict[str, str], t: Translator, *, create: bool) -> forms.OutcomeForm:
    """The entry form's values and its problems by field (the same schema as the API)."""
    form = forms.OutcomeForm()
    for name in ENTRY_FIELDS:
        form.values[name] = data.get(name, "").strip()
    body: dict[str, Any] = {
        name: form.values[name] for name in ("name_zh", "name_en", "rule_id") if form.values[name]
    }
    body["levels"] = _levels(form.values["levels"])
    if create:
        body.update({name: form.values[name] for name in ("code", "outcome_type") if form.values[name]})
    schema: type[CatalogueEntryCreate] | type[CatalogueEntryEdit] = (
        CatalogueEntryCreate if create else CatalogueEntryEdit
    )
    try:
        schema.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ())]
            key = f"err.{error.get('type', '')}"
            form.error(loc[0] if loc else "", t(key) if t.has(key) else str(error.get("msg", "")))
    return form


def _change(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    data: dict[str, str],
    code: str | None,
) -> Response:
    require_city_centre(session, who)
    t = translator(request)
    form = _read_entry(data, t, create=code is None)
    if not form.errors:
        levels = _levels(form.values["levels"])
        done = pages.attempt(
            session,
            lambda: (
                catalogue.add_entry(
                    session,
                    code=form.values["code"],
                    outcome_type=form.values["outcome_type"],
                    name_zh=form.values["name_zh"],
                    name_en=form.values["name_en"],
                    levels=levels,
                    rule_id=form.values["rule_id"],
                    by=who.token_id,
                )
                if code is None
                else catalogue.edit_entry(
                    session,
                    code,
                    name_zh=form.values["name_zh"],
                    name_en=form.values["name_en"],
                    levels=levels,
                    rule_id=form.values["rule_id"],
                    by=who.token_id,
                )
            ),
        )
        if not isinstance(done, CreditBankError):
            return finish(pages.redirect(f"/console/catalogue?notice={done.code}#entry-{done.code}"), request)
        if code is not None and done.status == 404:
            return pages.error_page(request, ctx, who, done, "/console/catalogue")
        form.error("code" if code is None else "", done.detail_in(t.lang))
        status_code = done.status
    else:
        status_code = 422
    return _catalogue_page(request, session, ctx, who, form=form, editing=code, status_code=status_code)


@router.post("/console/catalogue/entries", response_class=HTMLResponse, dependencies=[FormCsrf])
async def catalogue_add(
    request: Request, session: PageSession, ctx: ContextDep, who: PageOperator
) -> Response:
    """Add an entry (the city centre): code, outcome type, names, levels or award tiers, and the
    recognition rule that credits it; a new catalogue version. Problems are shown by field."""
    received = await request.form()
    data = {k: v for k, v in received.items() if isinstance(v, str)}
    return await run_in_threadpool(_change, request, session, ctx, who, data, None)


@router.post("/console/catalogue/entries/{code}/edit", response_class=HTMLResponse, dependencies=[FormCsrf])
async def catalogue_edit(
    code: str, request: Request, session: PageSession, ctx: ContextDep, who: PageOperator
) -> Response:
    """Edit an entry's names, levels or rule (the city centre); a new catalogue version that keeps
    what they were (`rules diff --catalogue` shows the change)."""
    received = await request.form()
    data = {k: v for k, v in received.items() if isinstance(v, str)}
    return await run_in_threadpool(_change, request, session, ctx, who, data, code[:60])


def _retire(request: Request, session: Session, ctx: AppContext, who: Principal, code: str) -> Response:
    require_city_centre(session, who)
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: catalogue.retire_entry(session, code, by=who.token_id),
        back="/console/catalogue",
        then=lambda done: f"/console/catalogue?notice={done.code}&retired=true#entry-{done.code}",
    )


@router.post("/console/catalogue/entries/{code}/retire", response_class=HTMLResponse, dependencies=[FormCsrf])
async def catalogue_retire(
    code: str, request: Request, session: PageSession, ctx: ContextDep, who: PageOperator
) -> Response:
    """Retire an entry (the city centre): a new catalogue version; postings naming it are refused."""
    return await run_in_threadpool(_retire, request, session, ctx, who, code[:60])
