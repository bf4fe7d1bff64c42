"""The registrar's programmes and shared courses in the console (``/console/programmes``): the
institution's programmes (专业) and the courses it shares with other schools (课程跨校共享), and the forms
that add them, calling the catalogue's own service (the same as ``POST /api/v1/programmes`` and
``POST /api/v1/shared-courses``). Enrolments in shared courses are on ``/courses``."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from creditbank.auth.deps import PageInstitution, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import service as catalog
from creditbank.catalog.schemas import ProgrammeCreate, SharedCourseCreate
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.i18n import Translator
from creditbank.web import forms, pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])

PROGRAMME_FIELDS = ("code", "title_zh", "title_en", "graduation_credits")
COURSE_FIELDS = (
    "code",
    "title_zh",
    "title_en",
    "credits",
    "level",
    "field",
    "term",
    "seats",
    "mode",
    "enrolment_deadline",
)


def _page(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    *,
    form: forms.OutcomeForm | None = None,
    which: str = "",
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    institution_id = who.subject or ""
    return render(
        request,
        ctx,
        who,
        "programmes.html",
        status=status_code,
        active="console",
        programmes=catalog.list_programmes(session, institution_id),
        courses=catalog.list_shared_courses(session, institution_id),
        form=form or forms.OutcomeForm(),
        which=which,
        notice=notice,
    )


@router.get("/console/programmes", response_class=HTMLResponse, dependencies=[Public])
def programmes_page(request: Request, session: PageSession, ctx: ContextDep) -> HTMLResponse:
    """The institution's programmes and shared courses, with the forms that add them (a sign-in
    form for anyone but an institution)."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is None or who.role is not Role.institution:
        error = t("signin.wrong_role_console", role=t(f"role.{who.role.value}")) if who else None
        return pages.signin_page(request, ctx, who, target="/console", error=error)
    done = request.query_params.get("added")
    return _page(request, session, ctx, who, notice=t("programmes.added", code=done[:60]) if done else None)


def _read(
    model: type[BaseModel], names: tuple[str, ...], data: dict[str, str], t: Translator
) -> tuple[forms.OutcomeForm, Any]:
    form = forms.OutcomeForm(values={name: data.get(name, "").strip() for name in names})
    body: dict[str, Any] = {k: v for k, v in form.values.items() if v}
    if model is SharedCourseCreate:
        body["open_to_other_schools"] = bool(data.get("open_to_other_schools"))
        form.values["open_to_other_schools"] = "on" if body["open_to_other_schools"] else ""
    try:
        return form, model.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ())]
            key = f"err.{error.get('type', '')}"
            form.error(
                loc[0] if loc and loc[0] in names else "", t(key) if t.has(key) else str(error.get("msg", ""))
            )
        return form, None


def _add(
    request: Request, session: Session, ctx: AppContext, who: Principal, data: dict[str, str], which: str
) -> Response:
    t = translator(request)
    institution_id = who.subject or ""
    if which == "programme":
        form, body = _read(ProgrammeCreate, PROGRAMME_FIELDS, data, t)
    else:
        form, body = _read(SharedCourseCreate, COURSE_FIELDS, data, t)
    if body is None:
        return _page(request, session, ctx, who, form=form, which=which, status_code=422)
    done = pages.attempt(
        session,
        lambda: (
            catalog.create_programme(session, institution_id, body)
            if which == "programme"
            else catalog.publish_course(session, institution_id, body)
        ),
    )
    if isinstance(done, CreditBankError):
        form.error("code", done.detail_in(t.lang))
        return _page(request, session, ctx, who, form=form, which=which, status_code=done.status)
    return finish(pages.redirect(f"/console/programmes?added={done.code}#{which}s"), request)


@router.post("/console/programmes", response_class=HTMLResponse, dependencies=[FormCsrf])
async def programme_add(
    request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Add a programme of your institution (the fields of `ProgrammeCreate`); problems by field."""
    data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_add, request, session, ctx, who, data, "programme")


@router.post("/console/shared-courses", response_class=HTMLResponse, dependencies=[FormCsrf])
async def course_publish(
    request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Publish a shared course (the fields of `SharedCourseCreate`: seats, term, mode, deadline)."""
    data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_add, request, session, ctx, who, data, "course")
