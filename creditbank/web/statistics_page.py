"""What the statistics page (数据看板) shows, over :mod:`creditbank.dashboards.service`: the charts
drawn on the server and the rows of the tables that carry the same numbers."""

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from markupsafe import Markup

from creditbank.auth.models import Role
from creditbank.dashboards.service import Dashboard
from creditbank.i18n import Translator
from creditbank.institutions.districts import DISTRICTS
from creditbank.web import charts


@dataclass(frozen=True)
class StatisticsView:
    board: Dashboard
    months_chart: Markup
    districts_chart: Markup
    categories_chart: Markup
    districts: tuple[str, ...]  # the filter's choices (the city centre only)


def view(board: Dashboard, t: Translator, city: bool) -> StatisticsView:
    legend = (t("stats.posted"), t("stats.recognised"))
    months = [
        charts.PairBar(m.strftime("%Y-%m"), Decimal(c.posted), Decimal(c.recognised))
        for m, c in board.by_month.items()
    ]
    places = [
        charts.PairBar(d or t("stats.no_district"), Decimal(c.posted), Decimal(c.recognised))
        for d, c in board.by_district.items()
    ]
    bars = [
        charts.CategoryBar(
            label=t.label("category", k) if k else t("stats.no_category"), available=s, converted=Decimal(0)
        )
        for k, (_, s) in board.credits_by_category.items()
    ]
    return StatisticsView(
        board=board,
        months_chart=charts.paired_columns(
            months,
            title=t("stats.by_month_title"),
            desc=t("stats.by_month_desc"),
            empty=t("stats.empty"),
            legend=legend,
            chart_id="c-months",
        ),
        districts_chart=charts.paired_columns(
            places,
            title=t("stats.by_district_title"),
            desc=t("stats.by_district_desc"),
            empty=t("stats.empty"),
            legend=legend,
            chart_id="c-districts",
        ),
        categories_chart=charts.credits_by_category(
            bars,
            title=t("stats.by_category_title"),
            desc=t("stats.by_category_desc"),
            empty=t("stats.empty"),
            legend=(t("stats.credits"), ""),
            chart_id="c-categories",
        ),
        districts=tuple(d.name_zh for d in DISTRICTS) if city else (),
    )


@dataclass(frozen=True)
class ExportLink:
    key: str  # statistics, review-log, outcomes, conversions (the label's msgid is ``stats.export_<key>``)
    csv: str
    xlsx: str


def exports(role: Role, district: str | None) -> tuple[ExportLink, ...]:
    """The downloads the statistics page offers ``role``: the statistics shown (of the chosen
    district), the review log for operators, the outcomes and conversions for an institution."""
    query = "?" + urlencode({"district": district}) if district else ""
    keys = ["statistics"]
    keys += ["outcomes", "conversions"] if role is Role.institution else ["review-log"]
    return tuple(
        ExportLink(
            key,
            f"/exports/{key}.csv" + (query if key == "statistics" else ""),
            f"/exports/{key}.xlsx" + (query if key == "statistics" else ""),
        )
        for key in keys
    )
