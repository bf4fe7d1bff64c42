"""The registrar's curriculum form (``/console/programmes/{id}/curriculum``): a programme's courses,
each in a credit category (required, major, general, elective) with its credits, and the credits
each category needs to graduate, saved through the catalogue's own service (the same as
``PUT /api/v1/programmes/{id}/curriculum``, which replaces the whole curriculum).

The form has one row per course (``code_N``, ``title_zh_N``, ``title_en_N``, ``category_N``,
``credits_N``) and a few empty rows to add courses; an empty row is skipped, a half-filled one is an
error. Problems are shown next to their fields in the reader's language, and nothing is written.
Only the programme's own institution opens or saves the form (another school: 403
``programme-not-yours``).
"""

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from creditbank.auth.deps import PageInstitution
from creditbank.auth.service import Principal
from creditbank.catalog import progress
from creditbank.catalog.models import CREDIT_CATEGORIES, Programme
from creditbank.catalog.schemas import CurriculumIn
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.i18n import Translator
from creditbank.web import forms, pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator

router = APIRouter(tags=["web pages"])

ROW_FIELDS = ("code", "title_zh", "title_en", "category", "credits")
ROW_KEY = re.compile(r"(code|title_zh|title_en|category|credits)_(\d{1,3})")
BLANK_ROWS = 3
MAX_ROWS = 300 + BLANK_ROWS


def _filled(programme: Programme, session: Session) -> tuple[forms.OutcomeForm, int]:
    """The form filled with the curriculum in force, and its number of rows."""
    rows, needs = progress.curriculum(session, programme.id)
    values: dict[str, str] = {}
    for i, row in enumerate(rows):
        values.update(
            {
                f"code_{i}": row.code,
                f"title_zh_{i}": row.title_zh,
                f"title_en_{i}": row.title_en,
                f"category_{i}": row.category,
                f"credits_{i}": format(row.credits.normalize(), "f"),
            }
        )
    values.update({f"req_{n.category}": format(n.credits.normalize(), "f") for n in needs})
    return forms.OutcomeForm(values=values), len(rows)


def read(data: dict[str, str], t: Translator) -> tuple[forms.OutcomeForm, int, CurriculumIn | None]:
    """The form as typed, its number of rows, and the curriculum when it is valid (problems by field
    otherwise: ``credits_2``, ``req_major``, ``""`` for the form as a whole)."""
    indices = sorted({int(m.group(2)) for k in data if (m := ROW_KEY.fullmatch(k))})
    indices = [i for i in indices if i < MAX_ROWS]
    names = [f"{f}_{i}" for i in indices for f in ROW_FIELDS] + [f"req_{c}" for c in CREDIT_CATEGORIES]
    form = forms.OutcomeForm(values={name: data.get(name, "").strip() for name in names})
    courses: list[dict[str, str]] = []
    positions: list[int] = []
    for i in indices:
        typed = {f: form.values[f"{f}_{i}"] for f in ROW_FIELDS}
        if not any(typed[f] for f in ROW_FIELDS if f != "category"):
            continue  # an empty row (its category has a default)
        positions.append(i)
        courses.append({f: v for f, v in typed.items() if v})
    requirements = {c: form.values[f"req_{c}"] for c in CREDIT_CATEGORIES if form.values[f"req_{c}"]}
    rows = (max(indices) + 1) if indices else 0
    try:
        return form, rows, CurriculumIn.model_validate({"courses": courses, "requirements": requirements})
    except ValidationError as exc:
        for error in exc.errors():
            form.error(_field(list(error.get("loc", ())), positions), _message(t, error))
        return form, rows, None


def _message(t: Translator, error: Any) -> str:
    key = f"err.{error.get('type', '')}"
    return t(key) if t.has(key) else str(error.get("msg", ""))


def _field(loc: list[Any], positions: list[int]) -> str:
    if len(loc) >= 3 and loc[0] == "courses" and isinstance(loc[1], int) and loc[1] < len(positions):
        return f"{loc[2]}_{positions[loc[1]]}"
    if len(loc) >= 2 and loc[0] == "requirements" and loc[1] in CREDIT_CATEGORIES:
        return f"req_{loc[1]}"
    return ""


def _page(
    request: Request,
    ctx: AppContext,
    who: Principal,
    programme: Programme,
    form: forms.OutcomeForm,
    rows: int,
    *,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        ctx,
        who,
        "curriculum.html",
        status=status_code,
        active="console",
        programme=programme,
        form=form,
        rows=min(rows + BLANK_ROWS, MAX_ROWS),
        categories=CREDIT_CATEGORIES,
        notice=notice,
    )


@router.get(
    "/console/programmes/{programme_id}/curriculum",
    response_class=HTMLResponse,
    summary="A programme's curriculum form",
)
def curriculum_page(
    programme_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """The curriculum of one of your programmes, as a form: its courses by credit category and the
    credits each category needs to graduate (another school's programme: 403)."""
    programme = pages.attempt(session, lambda: progress.editable_programme(session, who, programme_id))
    if isinstance(programme, CreditBankError):
        return pages.error_page(request, ctx, who, programme, back="/console/programmes")
    form, rows = _filled(programme, session)
    t = translator(request)
    notice = t("curriculum.saved") if request.query_params.get("saved") else None
    return _page(request, ctx, who, programme, form, rows, notice=notice)


def _save(
    programme_id: str,
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    data: dict[str, str],
) -> Response:
    programme = pages.attempt(session, lambda: progress.editable_programme(session, who, programme_id))
    if isinstance(programme, CreditBankError):
        return pages.error_page(request, ctx, who, programme, back="/console/programmes")
    t = translator(request)
    form, rows, body = read(data, t)
    if body is None:
        return _page(request, ctx, who, programme, form, rows, status_code=422)
    checked = body
    done = pages.attempt(session, lambda: progress.set_curriculum(session, who, programme_id, checked))
    if isinstance(done, CreditBankError):
        form.error("", done.detail_in(t.lang))
        return _page(request, ctx, who, programme, form, rows, status_code=done.status)
    return finish(pages.redirect(f"/console/programmes/{programme_id}/curriculum?saved=1"), request)


@router.post(
    "/console/programmes/{programme_id}/curriculum",
    response_class=HTMLResponse,
    summary="Save a programme's curriculum",
    dependencies=[FormCsrf],
)
async def curriculum_save(
    programme_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Replace the curriculum of one of your programmes with the form's rows (empty rows skipped)
    and requirements (an empty one: none); problems by field, nothing written."""
    data = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_save, programme_id, request, session, ctx, who, data)
