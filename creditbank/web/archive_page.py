"""The learner's archive page as HTML: its charts and the page itself, for the archive's own routes
and for a share link (:mod:`creditbank.web.archive_endpoints`).
"""

import datetime as dt

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlmodel import Session

from creditbank.applications import appeal_views
from creditbank.auth.service import Principal
from creditbank.catalog import service as catalog
from creditbank.context import AppContext
from creditbank.i18n import Translator
from creditbank.learners import access
from creditbank.web import views
from creditbank.web.charts import credits_by_category, credits_over_time
from creditbank.web.rendering import render, translator
from creditbank.web.share import SHARE_DAYS

DONE_MESSAGES = (
    "certificate",
    "transfer",
    "correction",
    "consent",
    "consent_revoked",
    "grant",
    "grant_revoked",
    "share_revoked",
)


def _time_chart(page: views.ArchivePage, t: Translator) -> Markup:
    points = page.timeline
    desc = (
        t(
            "chart.over_time_desc",
            first=points[0].day.isoformat(),
            last=points[-1].day.isoformat(),
            total=f"{points[-1].total.normalize():f}",
        )
        if points
        else t("chart.empty")
    )
    return credits_over_time(points, title=t("chart.over_time"), desc=desc, empty=t("chart.empty"))


def _category_chart(page: views.ArchivePage, t: Translator) -> Markup:
    return credits_by_category(
        page.bars(lambda c: t.label("category", c)),
        title=t("chart.by_category"),
        desc=t("chart.by_category_desc"),
        empty=t("chart.empty"),
        legend=(t("chart.legend_available"), t("chart.legend_converted")),
    )


def response(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal | None,
    page: views.ArchivePage,
    *,
    shared_until: dt.datetime | None = None,
    share_token: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    t = translator(request)
    destinations = [] if shared_until else catalog.transfer_destinations(session)
    private = None if shared_until else views.access_section(session, page.archive.learner.id)
    return render(
        request,
        ctx,
        who,
        "archive.html",
        active="archive",
        page=page,
        a=page.archive,
        names=page.names,
        readonly=shared_until is not None,
        shared_until=shared_until,
        share_token=share_token,
        access_log=[] if shared_until else access.access_log(session, page.archive.learner.id),
        done=done if done in DONE_MESSAGES else None,
        share_days=SHARE_DAYS,
        destinations=destinations,
        destination_names=views.institution_names(session, [p.institution_id for p in destinations]),
        time_chart=_time_chart(page, t),
        category_chart=_category_chart(page, t),
        access=private,
        appeal_windows={} if shared_until else appeal_views.windows(session, ctx, page.archive.learner.id),
    )
