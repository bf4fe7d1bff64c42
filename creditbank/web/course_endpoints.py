"""The shared-course page (课程跨校共享, ``/courses``): the catalogue for everyone, enrolment and
the chain of each enrolment for the signed-in learner."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from creditbank.auth.deps import PageLearner, Public
from creditbank.auth.models import Role
from creditbank.catalog import courses
from creditbank.deps import ContextDep
from creditbank.web import course_views, pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])


@router.get("/courses", response_class=HTMLResponse, dependencies=[Public], summary="Shared courses")
def courses_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    done: Annotated[str | None, Query(description="a finished action to confirm", max_length=20)] = None,
) -> Response:
    """Shared courses open to learners of other schools (public); a signed-in learner also asks to
    enrol and follows each enrolment from request to converted credits."""
    who = optional_principal(request, session, ctx)
    if who is not None and who.role is Role.learner and who.subject is None:
        return finish(pages.redirect("/account"), request)
    page = course_views.courses_page(session, who)
    return render(
        request,
        ctx,
        who,
        "courses.html",
        active="courses",
        page=page,
        done=done if done == "enrolled" else None,
    )


@router.post("/courses/enrol", response_class=HTMLResponse, dependencies=[FormCsrf])
def enrol(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    course_id: Annotated[str, Form(description="the shared course", max_length=40)] = "",
    programme_id: Annotated[
        str, Form(description="your programme the result counts towards", max_length=40)
    ] = "",
) -> Response:
    """Ask to enrol in a shared course for one of your programmes (a seat is held; your home school
    approves, the host accepts)."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: courses.request_enrolment(
            session, who, course_id=course_id.strip(), programme_id=programme_id.strip()
        ),
        back="/courses",
        then=lambda done: f"/courses?done=enrolled#enrolment-{done.id}",
    )
