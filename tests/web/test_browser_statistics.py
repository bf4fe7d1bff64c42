"""The statistics page (数据看板) in a real headless Chromium against a real server on the demo world:
its exports show their progress and are saved, and each operator role walks the page, its figures
checked against the database and against the SVG chart drawn beside the table.

The browser, the server and the screenshots are those of :mod:`tests.web.test_browser` (its
fixtures); every request a page makes must stay on the server and no content-security-policy error
may occur (the export script is a file the service serves, no inline script).
"""

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import create_engine, text

from tests.web.test_browser import (  # noqa: F401 - fixtures
    Demo,
    browser,
    demo,
    open_session,
    playwright,
    shot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open_statistics(page: Page, token: str) -> None:
    sign_in(page, token, start="/console")
    page.get_by_role("navigation").get_by_role("link", name="数据看板").click()
    expect(page.get_by_role("heading", name="数据看板", exact=True)).to_be_visible()


def _download(page: Page, box: Locator, label: str, saved_dir: Path) -> Path:
    with page.expect_download() as info:
        box.get_by_role("link", name=label).click()
    saved = saved_dir / info.value.suggested_filename
    info.value.save_as(saved)
    return saved


class TestExportProgress:
    def test_the_bar_fills_and_the_file_is_saved(self, demo: Demo, open_session: Any, tmp_path: Path) -> None:  # noqa: F811 - fixtures
        page = open_session().page()
        _open_statistics(page, demo.tokens["city_reviewer"])
        box = page.locator("#export-statistics")
        bar = box.locator("progress")
        expect(bar).to_be_hidden()  # until a download starts
        saved = _download(page, box, "本页统计数据（含各机构） · CSV", tmp_path)
        expect(box).to_have_attribute("data-finished", "true")
        value, maximum = bar.evaluate("b => [b.value, b.max]")
        assert value == maximum > 1, (value, maximum)
        assert saved.name == "statistics.csv"
        rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))[1:]
        assert rows and rows[0][0] == "total"
        expect(box.locator(".export-status")).to_have_text(f"{len(rows)} / {len(rows)} · 已保存")
        shot(page, "statistics-export-progress", full_page=False)

        log = page.locator("#export-review-log")
        saved = _download(page, log, "审核记录 · Excel（XLSX）", tmp_path)
        expect(log).to_have_attribute("data-finished", "true")
        value, maximum = log.locator("progress").evaluate("b => [b.value, b.max]")
        assert value == maximum == saved.stat().st_size, "the bar counts the file's bytes"
        expect(log.locator(".export-status")).to_have_text("100% · 已保存")
        sheet = load_workbook(saved).worksheets[0]
        assert sheet.cell(1, 1).value == "event_id"

    def test_without_javascript_the_link_downloads_the_file(
        self,
        demo: Demo,  # noqa: F811 - fixtures
        open_session: Any,  # noqa: F811 - fixtures
        tmp_path: Path,
    ) -> None:
        page = open_session(javascript=False).page()
        _open_statistics(page, demo.institution("haidian-vocational")["token"])
        box = page.locator("#export-outcomes")
        saved = _download(page, box, "本机构登记的学习成果 · CSV", tmp_path)
        expect(box.locator("progress")).to_be_hidden()
        rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert rows[0][:2] == ["outcome_id", "reference"] and len(rows) > 1
        expect(page.locator("#export-review-log")).to_have_count(0)


def _posted_in_db(world: Demo, where: str = "", **params: str) -> int:
    """Outcomes posted, counted in the server's database (``where`` over ``o`` and ``i``)."""
    engine = create_engine(world.server.database_url)
    try:
        with engine.connect() as db:
            return int(
                db.execute(
                    text(
                        "SELECT count(*) FROM outcomes o JOIN institutions i ON i.id = o.institution_id "
                        + where
                    ),
                    params,
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _table(page: Page, table_id: str) -> dict[str, list[str]]:
    """The rows of one of the page's tables: the row's heading -> its cells."""
    rows: dict[str, list[str]] = {}
    for row in page.locator(f"#{table_id} tbody tr").all():
        rows[row.locator("th").inner_text().strip()] = [
            c.strip() for c in row.locator("td").all_inner_texts()
        ]
    return rows


def _chart(page: Page, chart_id: str, legend: str) -> dict[str, str]:
    """What the SVG chart's bars say (their <title>, read by screen readers and shown on hover):
    the group -> the value of the series ``legend``."""
    tips = page.locator(f"svg:has(#{chart_id}-t) rect > title").evaluate_all(
        "titles => titles.map(t => t.textContent)"
    )
    values: dict[str, str] = {}
    for tip in tips:
        label, _, said = tip.partition(": ")
        if said.startswith(legend + " "):
            values[label] = said.removeprefix(legend + " ")
    return values


POSTED = 1  # the posted column among a counts table's cells (after accounts)


class TestStatisticsWalk:
    def test_the_city_centre_sees_every_district_then_one(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        page = open_session().page()
        _open_statistics(page, demo.tokens["city_reviewer"])
        expect(page.get_by_text("全市各区的统计")).to_be_visible()
        total = _table(page, "totals")["合计"]
        assert int(total[POSTED]) == _posted_in_db(demo) > 0
        districts = _table(page, "by-district")
        assert {"海淀区", "西城区", "朝阳区"} <= set(districts)
        bars = _chart(page, "c-districts", "发布成果")
        assert {d: cells[POSTED] for d, cells in districts.items()} == bars
        assert sum(int(cells[POSTED]) for cells in districts.values()) == int(total[POSTED])
        shot(page, "statistics-city")

        page.get_by_label("区", exact=True).select_option("海淀区")
        with page.expect_navigation():
            page.get_by_role("button", name="查看").click()
        expect(page.get_by_text("海淀区的统计")).to_be_visible()
        assert set(_table(page, "by-district")) == {"海淀区"}
        haidian = _table(page, "totals")["合计"]
        assert int(haidian[POSTED]) == _posted_in_db(demo, "WHERE i.district = :d", d="海淀区") > 0
        assert _chart(page, "c-districts", "发布成果") == {"海淀区": haidian[POSTED]}
        months = _table(page, "by-month")
        assert {m: cells[POSTED] for m, cells in months.items() if cells[POSTED] != "0"} == {
            m: v for m, v in _chart(page, "c-months", "发布成果").items() if v != "0"
        }
        shot(page, "statistics-city-district")

    def test_a_district_reviewer_sees_its_own_district_only(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        page = open_session().page()
        _open_statistics(page, demo.tokens["reviewer"])
        expect(page.get_by_text("西城区的统计")).to_be_visible()
        expect(page.get_by_label("区", exact=True)).to_have_count(0)  # no district choice
        assert set(_table(page, "by-district")) == {"西城区"}
        total = _table(page, "totals")["合计"]
        assert int(total[POSTED]) == _posted_in_db(demo, "WHERE i.district = :d", d="西城区")
        assert _chart(page, "c-districts", "发布成果") == {"西城区": total[POSTED]}
        shot(page, "statistics-district")
        refused = page.goto("/statistics?district=海淀区")
        assert refused is not None and refused.status == 403
        expect(page.locator("#by-district")).to_have_count(0)

    def test_a_registrar_sees_its_own_figures(self, demo: Demo, open_session: Any) -> None:  # noqa: F811 - fixtures
        own = demo.institution("haidian-vocational")
        page = open_session().page()
        _open_statistics(page, own["token"])
        expect(page.get_by_text(own["id"])).to_be_visible()
        total = _table(page, "totals")["合计"]
        assert int(total[POSTED]) == _posted_in_db(demo, "WHERE o.institution_id = :i", i=own["id"]) > 0
        months = _table(page, "by-month")
        assert sum(int(cells[POSTED]) for cells in months.values()) == int(total[POSTED])
        bars = _chart(page, "c-months", "发布成果")
        assert {m: cells[POSTED] for m, cells in months.items()} == bars
        recognised = _table(page, "by-category")
        assert sum(int(cells[0]) for cells in recognised.values()) == int(total[2])
        shot(page, "statistics-registrar")
