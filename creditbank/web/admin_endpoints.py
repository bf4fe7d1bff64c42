"""The admin's pages in the console: institutions (their district and accreditation scope),
operator accounts (the city centre's and the district sub-centres' reviewers), API tokens (minted
with the secret shown once, revoked), and the rule set in force (read-only: its hash, its rules and
its test cases, run now). Every form calls the same service as the API; only an admin may post
them (any other role is a 403), and a form posted by the session cookie needs the page's token.
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from creditbank.accreditation import service as accreditation
from creditbank.auth import service as auth
from creditbank.auth.deps import PageGuard, Public
from creditbank.auth.models import Role
from creditbank.auth.schemas import ReviewerCreate, TokenCreate
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.i18n import Translator
from creditbank.institutions import service as institutions
from creditbank.institutions.districts import DISTRICTS
from creditbank.institutions.models import InstitutionKind
from creditbank.institutions.schemas import InstitutionCreate
from creditbank.outcomes.rulesets import rule_book
from creditbank.rule_engine.cases import run_set_cases
from creditbank.rule_engine.models import OUTCOME_TYPES
from creditbank.web import pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])

PageAdmin = Annotated[Principal, Depends(PageGuard(Role.admin))]
SECTIONS = ("institutions", "operators", "tokens", "rules")


def _section_data(session: Session, ctx: AppContext, section: str) -> dict[str, Any]:
    if section == "institutions":
        rows = institutions.list_by_name(session)
        return {
            "institutions": [(i, accreditation.scope_of(session, i)) for i in rows],
            "kinds": [k.value for k in InstitutionKind],
            "districts": DISTRICTS,
            "outcome_types": OUTCOME_TYPES,
            "catalogue": accreditation.in_force(session),
        }
    if section == "operators":
        return {"operators": auth.list_reviewers(session), "districts": DISTRICTS}
    if section == "tokens":
        return {"tokens": list(reversed(auth.list_tokens(session))), "roles": [r.value for r in Role]}
    rule_set = rule_book(ctx.settings.rules_dir).in_force(dt.date.today())
    return {"rule_set": rule_set, "cases": run_set_cases(rule_set.path)}


def _page(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    section: str,
    *,
    values: dict[str, str] | None = None,
    errors: list[str] | None = None,
    minted: tuple[Any, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    response = render(
        request,
        ctx,
        who,
        "admin.html",
        status=status_code,
        active="admin",
        section=section,
        sections=SECTIONS,
        values=values or {},
        errors=errors or [],
        minted=minted,
        notice=notice,
        **_section_data(session, ctx, section),
    )
    if minted is not None:  # the secret is on this page only: no cache may keep it
        response.headers["Cache-Control"] = "no-store"
    return response


def _admin_page(request: Request, session: Session, ctx: AppContext, section: str) -> HTMLResponse:
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is None or who.role is not Role.admin:
        error = t("signin.wrong_role_console", role=t(f"role.{who.role.value}")) if who else None
        return pages.signin_page(request, ctx, who, target="/console", error=error)
    notice = request.query_params.get("done")
    return _page(
        request, session, ctx, who, section, notice=t("admin.saved", what=notice[:60]) if notice else None
    )


@router.get("/console/admin", response_class=HTMLResponse, dependencies=[Public])
@router.get("/console/admin/institutions", response_class=HTMLResponse, dependencies=[Public])
def admin_institutions(request: Request, session: PageSession, ctx: ContextDep) -> HTMLResponse:
    """Institutions with their district and accreditation scope (admin; a sign-in form otherwise)."""
    return _admin_page(request, session, ctx, "institutions")


@router.get("/console/admin/operators", response_class=HTMLResponse, dependencies=[Public])
def admin_operators(request: Request, session: PageSession, ctx: ContextDep) -> HTMLResponse:
    """Operator accounts: the city centre's and each district sub-centre's reviewers (admin)."""
    return _admin_page(request, session, ctx, "operators")


@router.get("/console/admin/tokens", response_class=HTMLResponse, dependencies=[Public])
def admin_tokens(request: Request, session: PageSession, ctx: ContextDep) -> HTMLResponse:
    """API tokens: who they act for, minted and revoked (admin). Secrets are never listed."""
    return _admin_page(request, session, ctx, "tokens")


@router.get("/console/admin/rules", response_class=HTMLResponse, dependencies=[Public])
def admin_rules(request: Request, session: PageSession, ctx: ContextDep) -> HTMLResponse:
    """The rule set in force, read-only: its hash, its rules and its test cases, run now (admin)."""
    return _admin_page(request, session, ctx, "rules")


def _validated(model: type[BaseModel], body: dict[str, Any], t: Translator) -> tuple[Any, list[str]]:
    try:
        return model.model_validate(body), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            key = f"err.{error.get('type', '')}"
            problems.append(f"{where}{t('common.colon')}{t(key) if t.has(key) else error.get('msg', '')}")
        return None, problems


def _form(request: Request, data: dict[str, Any], ctx: AppContext) -> dict[str, str]:
    return {k: v.strip() for k, v in data.items() if isinstance(v, str) and k != "csrf"}


def _done(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    section: str,
    values: dict[str, str],
    found: Any,
    what: str,
) -> Response:
    if isinstance(found, CreditBankError):
        t = translator(request)
        return _page(
            request,
            session,
            ctx,
            who,
            section,
            values=values,
            errors=[found.detail_in(t.lang)],
            status_code=found.status,
        )
    return finish(pages.redirect(f"/console/admin/{section}?done={what}"), request)


def _create_institution(
    request: Request, session: Session, ctx: AppContext, who: Principal, data: dict[str, Any]
) -> Response:
    values = _form(request, data, ctx)
    t = translator(request)
    body, problems = _validated(
        InstitutionCreate,
        {k: values.get(k, "") for k in ("name_zh", "name_en", "credit_code", "kind", "district")},
        t,
    )
    if body is None:
        return _page(
            request, session, ctx, who, "institutions", values=values, errors=problems, status_code=422
        )
    found = pages.attempt(
        session,
        lambda: institutions.register(
            session,
            name_zh=body.name_zh,
            name_en=body.name_en,
            credit_code=body.credit_code,
            kind=body.kind,
            district=body.district,
            admin_subject=who.token_id,
        ),
    )
    return _done(request, session, ctx, who, "institutions", values, found, getattr(found, "id", ""))


@router.post("/console/admin/institutions", response_class=HTMLResponse, dependencies=[FormCsrf])
async def admin_create_institution(
    request: Request, session: PageSession, ctx: ContextDep, who: PageAdmin
) -> Response:
    """Register an institution (the fields of `InstitutionCreate`)."""
    data = dict((await request.form()).items())
    return await run_in_threadpool(_create_institution, request, session, ctx, who, data)


def _set_scope(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    institution_id: str,
    data: list[tuple[str, Any]],
) -> Response:
    types = [v for k, v in data if k == "outcome_types" and isinstance(v, str)]
    codes_text = next((v for k, v in data if k == "catalogue_codes" and isinstance(v, str)), "")
    codes = [c.strip() for c in codes_text.replace("，", ",").split(",") if c.strip()]
    unknown = [t for t in types if t not in OUTCOME_TYPES]
    if unknown or len(codes) > 200:
        t = translator(request)
        return _page(
            request, session, ctx, who, "institutions", errors=[t("err.literal_error")], status_code=422
        )

    def work() -> Any:
        return accreditation.set_scope(session, institutions.get(session, institution_id), types, codes)

    return _done(request, session, ctx, who, "institutions", {}, pages.attempt(session, work), institution_id)


@router.post(
    "/console/admin/institutions/{institution_id}/scope", response_class=HTMLResponse, dependencies=[FormCsrf]
)
async def admin_set_scope(
    institution_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageAdmin
) -> Response:
    """Set an institution's accreditation scope: the outcome types it may post (any entry), and the
    single catalogue entries it may post (their type limited to them); it replaces its kind's default."""
    data = list((await request.form()).multi_items())
    return await run_in_threadpool(_set_scope, request, session, ctx, who, institution_id[:40], data)


def _create_operator(
    request: Request, session: Session, ctx: AppContext, who: Principal, data: dict[str, Any]
) -> Response:
    values = _form(request, data, ctx)
    t = translator(request)
    wanted = {"name": values.get("name", ""), "unit": values.get("unit", "")}
    if values.get("district"):
        wanted["district"] = values["district"]
    body, problems = _validated(ReviewerCreate, wanted, t)
    if body is None:
        return _page(request, session, ctx, who, "operators", values=values, errors=problems, status_code=422)
    found = pages.attempt(session, lambda: auth.create_reviewer(session, body.name, body.unit, body.district))
    return _done(request, session, ctx, who, "operators", values, found, getattr(found, "id", ""))


@router.post("/console/admin/operators", response_class=HTMLResponse, dependencies=[FormCsrf])
async def admin_create_operator(
    request: Request, session: PageSession, ctx: ContextDep, who: PageAdmin
) -> Response:
    """Create an operator account (a named reviewer) at a district sub-centre, or at the city
    centre when no district is chosen; mint its tokens on the tokens page."""
    data = dict((await request.form()).items())
    return await run_in_threadpool(_create_operator, request, session, ctx, who, data)


def _mint(
    request: Request, session: Session, ctx: AppContext, who: Principal, data: dict[str, Any]
) -> Response:
    values = _form(request, data, ctx)
    t = translator(request)
    wanted = {"role": values.get("role", ""), "label": values.get("label", "")}
    if values.get("subject"):
        wanted["subject"] = values["subject"]
    body, problems = _validated(TokenCreate, wanted, t)
    if body is None:
        return _page(request, session, ctx, who, "tokens", values=values, errors=problems, status_code=422)
    found = pages.attempt(
        session, lambda: auth.create_token(session, ctx.token_key, body.role, body.subject, body.label)
    )
    if isinstance(found, CreditBankError):
        return _done(request, session, ctx, who, "tokens", values, found, "")
    return _page(request, session, ctx, who, "tokens", minted=found, status_code=201)


@router.post("/console/admin/tokens", response_class=HTMLResponse, dependencies=[FormCsrf])
async def admin_mint_token(
    request: Request, session: PageSession, ctx: ContextDep, who: PageAdmin
) -> Response:
    """Mint an API token: the secret is shown on the answer only (never stored, never listed)."""
    data = dict((await request.form()).items())
    return await run_in_threadpool(_mint, request, session, ctx, who, data)


def _revoke(
    request: Request, session: Session, ctx: AppContext, who: Principal, token_id: str, data: dict[str, Any]
) -> Response:
    _form(request, data, ctx)
    found = pages.attempt(session, lambda: auth.revoke_token(session, token_id))
    return _done(request, session, ctx, who, "tokens", {}, found, token_id)


@router.post("/console/admin/tokens/{token_id}/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
async def admin_revoke_token(
    token_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageAdmin
) -> Response:
    """Revoke a token: its holder's calls and browser sessions end now."""
    data = dict((await request.form()).items())
    return await run_in_threadpool(_revoke, request, session, ctx, who, token_id[:40], data)
