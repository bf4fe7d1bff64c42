"""The statistics page (数据看板) for the city centre, the district sub-centres and institutions."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from creditbank.auth.deps import Public
from creditbank.auth.models import Role
from creditbank.dashboards import service
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.web import pages, statistics_page
from creditbank.web.pages import PageSession
from creditbank.web.rendering import render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])
READERS = (Role.institution, Role.reviewer, Role.admin)


@router.get("/statistics", response_class=HTMLResponse, dependencies=[Public])
def statistics(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    district: Annotated[
        str | None, Query(max_length=60, description="only this district (the city centre only)")
    ] = None,
) -> HTMLResponse:
    """The statistics (数据看板) as charts drawn on the server with their numbers in tables: the city
    centre's (every district, or one), a district sub-centre's (its district), an institution's
    (itself); a sign-in form for anyone else; another district's figures are a 403 page."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is None or who.role not in READERS:
        error = t("signin.wrong_role_console", role=t(f"role.{who.role.value}")) if who else None
        return pages.signin_page(request, ctx, who, target="/statistics", error=error)
    found = pages.attempt(session, lambda: service.scope_for(session, who, district or None))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, back="/statistics")
    board = service.dashboard(session, found)
    return render(
        request,
        ctx,
        who,
        "statistics.html",
        active="statistics",
        stats=statistics_page.view(board, t, city=found.city and found.institution_id is None),
        scope=found,
        chosen=found.district if found.city else None,
    )
