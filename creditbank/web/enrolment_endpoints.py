"""The registrar's enrolments in shared courses (课程跨校共享) in the console (``/console/enrolments``).

Two lists, paged (50 a page) and filtered by state: the enrolments of the institution's learners in
other schools' courses (``side=home``: approve, naming the equivalence that will convert the result,
or decline with a reason) and the enrolments in the institution's own shared courses (``side=host``:
accept or decline an approved enrolment, post the result of an accepted one). Each form posts to the
catalogue's own service (the same as the ``/api/v1/enrolments/{id}/…`` operations), with the page's
CSRF token; whoever is not the enrolment's home school or host gets what the API answers (404
``enrolment-not-found``; the host approving, 403 ``not-the-home-school``). Learner names appear only
where the institution may read them now (logged as reads).
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from creditbank.auth.deps import PageInstitution
from creditbank.catalog import courses
from creditbank.catalog.schemas import EnrolmentResult
from creditbank.deps import ContextDep
from creditbank.web import pages
from creditbank.web.course_views import registrar_enrolments
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import render, translator

router = APIRouter(tags=["web pages"])

PER_PAGE = 50
Side = Literal["home", "host"]
Notice = Literal["approved", "declined", "accepted", "result"]


def _list(side: str) -> str:
    return f"/console/enrolments?side={side}"


@router.get("/console/enrolments", response_class=HTMLResponse, summary="Enrolments in shared courses")
def enrolment_list(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    side: Annotated[
        Side, Query(description="home: your learners' enrolments; host: in your courses")
    ] = "home",
    status: Annotated[str, Query(description="one state, or all when empty", max_length=12)] = "",
    page: Annotated[int, Query(ge=1, le=100_000, description="the page, 50 rows each")] = 1,
    notice: Annotated[Notice | None, Query(description="a finished action to confirm")] = None,
    ref: Annotated[str | None, Query(description="what the action concerned", max_length=40)] = None,
) -> HTMLResponse:
    """Your institution's enrolments as home school or as host, newest first, with the forms of the
    step that is yours to take."""
    state = status if status in courses.ENROLMENT_STATES else ""
    found = registrar_enrolments(
        session,
        who,
        ctx.secrets.master_key,
        side=side,
        status=state,
        offset=(page - 1) * PER_PAGE,
        per_page=PER_PAGE,
    )
    t = translator(request)
    done = {
        "approved": t("enrolments.done_approved", ref=ref or ""),
        "declined": t("enrolments.done_declined", ref=ref or ""),
        "accepted": t("enrolments.done_accepted", ref=ref or ""),
        "result": t("enrolments.done_result", ref=ref or ""),
    }
    said = done[notice] if notice else None
    return render(
        request,
        ctx,
        who,
        "enrolments.html",
        active="console",
        found=found,
        page=page,
        pages=max((found.total + PER_PAGE - 1) // PER_PAGE, 1),
        states=courses.ENROLMENT_STATES,
        notice=said,
    )


def _problem(request: Request, ctx: ContextDep, who: PageInstitution, text: str, side: str) -> Response:
    t = translator(request)
    return pages.message(
        request, ctx, who, title=t("enrolments.title"), text=text, status_code=422, back=_list(side)
    )


@router.post(
    "/console/enrolments/{enrolment_id}/approve", response_class=HTMLResponse, dependencies=[FormCsrf]
)
def enrolment_approve(
    enrolment_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    equivalence_id: Annotated[
        str, Form(description="your equivalence that converts the result", max_length=40)
    ] = "",
) -> Response:
    """Home school: approve a requested enrolment, naming the equivalence that will convert the result."""
    t = translator(request)
    if not equivalence_id.strip():
        return _problem(request, ctx, who, f"{t('enrolments.equivalence')}: {t('err.missing')}", "home")
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: courses.approve(session, who, enrolment_id, equivalence_id.strip()),
        back=_list("home"),
        then=lambda done: f"{_list('home')}&notice=approved&ref={done.id}",
    )


@router.post(
    "/console/enrolments/{enrolment_id}/decline", response_class=HTMLResponse, dependencies=[FormCsrf]
)
def enrolment_decline(
    enrolment_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    reason: Annotated[str, Form(description="why (the learner reads it)", max_length=500)] = "",
    side: Annotated[Side, Form(description="the list to go back to")] = "home",
) -> Response:
    """Home school (a request) or host (an approved enrolment): decline with a reason; the seat is freed."""
    t = translator(request)
    if len(reason.strip()) < 2:
        return _problem(request, ctx, who, f"{t('console.reason')}: {t('err.missing')}", side)
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: courses.decline(session, who, enrolment_id, reason.strip()),
        back=_list(side),
        then=lambda done: f"{_list(side)}&notice=declined&ref={done.id}",
    )


@router.post(
    "/console/enrolments/{enrolment_id}/accept", response_class=HTMLResponse, dependencies=[FormCsrf]
)
def enrolment_accept(
    enrolment_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
) -> Response:
    """Host: accept an enrolment the learner's home school approved."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: courses.accept(session, who, enrolment_id),
        back=_list("host"),
        then=lambda done: f"{_list('host')}&notice=accepted&ref={done.id}",
    )


@router.post(
    "/console/enrolments/{enrolment_id}/result", response_class=HTMLResponse, dependencies=[FormCsrf]
)
def enrolment_result(
    enrolment_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    achieved_on: Annotated[str, Form(description="the day the course was completed", max_length=10)] = "",
    score: Annotated[str, Form(description="score of 100", max_length=8)] = "",
    grade: Annotated[str, Form(description="grade as issued", max_length=40)] = "",
) -> Response:
    """Host: post the result of an accepted enrolment; when the rules recognise it, the home school's
    equivalence converts it into the learner's programme (a result sent to review converts when the
    review approves it)."""
    t = translator(request)
    typed = {"achieved_on": achieved_on.strip(), "score": score.strip(), "grade": grade.strip()}
    try:
        body = EnrolmentResult.model_validate({k: v for k, v in typed.items() if v})
    except ValidationError as exc:
        labels = {
            "achieved_on": t("enrolments.achieved_on"),
            "score": t("enrolments.score"),
            "grade": t("enrolments.grade"),
        }
        said = []
        for error in exc.errors():
            name = str(error.get("loc", ("",))[0])
            key = f"err.{error.get('type', '')}"
            said.append(f"{labels.get(name, name)}: {t(key) if t.has(key) else error.get('msg', '')}")
        return _problem(request, ctx, who, "; ".join(said), "host")
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: courses.post_result(session, ctx, who, enrolment_id, body),
        back=_list("host"),
        then=lambda done: f"{_list('host')}&notice=result&ref={done.id}",
    )
