"""The statistics page (数据看板) per role, signed in through the pages' own form: charts drawn on the
server with the same numbers in tables; a district sub-centre's reviewer asking the page for another
district gets a 403 page with nothing of that district."""

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.conftest import Tokens
from tests.outcomes.test_review_districts import TwoDistricts
from tests.support.signin import mint, sign_in


def _reviewer(client: TestClient, auth: Tokens, ctx: AppContext, district: str | None) -> str:
    body: dict[str, Any] = {"name": "看板审核员", **({"district": district} if district else {})}
    created = client.post("/api/v1/reviewers", json=body, headers=auth(Role.admin))
    assert created.status_code == 201, created.text
    return mint(ctx, Role.reviewer, created.json()["id"])


def _table(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start : html.index("</table>", start)]


class TestStatisticsPage:
    def test_city_centre_sees_every_district_and_filters(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        TwoDistricts(client, auth)
        sign_in(client, _reviewer(client, auth, ctx, None), "/statistics")
        page = client.get("/statistics")
        assert page.status_code == 200, page.text
        assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in page.text
        assert 'role="img"' in page.text and '<script src="http' not in page.text
        districts = _table(page.text, "by-district")
        assert "海淀区" in districts and "朝阳区" in districts
        assert '<select id="district" name="district">' in page.text
        one = client.get("/statistics", params={"district": "朝阳区"})
        assert one.status_code == 200
        assert "海淀区" not in _table(one.text, "by-district")

    def test_district_reviewer_sees_only_their_district(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        TwoDistricts(client, auth)
        sign_in(client, _reviewer(client, auth, ctx, "朝阳区"), "/statistics")
        page = client.get("/statistics")
        assert page.status_code == 200, page.text
        assert "海淀区" not in _table(page.text, "by-district")
        assert "<select" not in page.text, "no district choice for a sub-centre"
        refused = client.get("/statistics", params={"district": "海淀区"})
        assert refused.status_code == 403, refused.text
        assert 'id="by-district"' not in refused.text

    def test_institution_sees_itself(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        world = TwoDistricts(client, auth)
        sign_in(client, mint(ctx, Role.institution, world.chaoyang.institution_id), "/statistics")
        page = client.get("/statistics")
        assert page.status_code == 200, page.text
        assert world.chaoyang.institution_id in page.text
        totals = _table(page.text, "totals")
        assert '<td class="num">1</td>' in totals  # its one posted outcome

    def test_a_learner_is_asked_to_sign_in_as_staff(self, client: TestClient, ctx: AppContext) -> None:
        anonymous = client.get("/statistics")
        assert anonymous.status_code == 200 and 'name="token"' in anonymous.text
        assert 'id="totals"' not in anonymous.text


def _rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))[1:]


class TestExportsFromThePage:
    """The page's downloads take the browser's session, are scoped like the page, say their row count
    for the progress bar, and are links a browser without JavaScript simply downloads."""

    def test_a_district_reviewer_downloads_its_own_district_only(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        world = TwoDistricts(client, auth)
        sign_in(client, _reviewer(client, auth, ctx, "朝阳区"), "/statistics")
        page = client.get("/statistics").text
        assert 'href="/exports/statistics.csv"' in page and 'href="/exports/review-log.xlsx"' in page
        assert '<script src="/static/export.js" defer></script>' in page and "<progress hidden" in page
        assert "/exports/outcomes.csv" not in page, "an operator has no outcomes of its own"
        for fmt in ("csv", "xlsx"):
            for other in ("海淀区", "110108"):
                refused = client.get(f"/exports/statistics.{fmt}", params={"district": other})
                assert refused.status_code == 403, refused.text
                assert refused.headers["content-type"] == "application/problem+json"
                assert "dashboard-out-of-scope" in refused.text and "section" not in refused.text
        own = client.get("/exports/statistics.csv")
        rows = _rows(own)
        assert int(own.headers["x-export-rows"]) == len(rows)
        assert {r[1] for r in rows if r[0] == "district"} == {"朝阳区"}
        assert {r[1] for r in rows if r[0] == "institution"} == {world.chaoyang.institution_id}
        log = client.get("/exports/review-log.csv")
        assert int(log.headers["x-export-rows"]) == len(_rows(log))
        assert client.get("/exports/outcomes.csv").status_code == 403

    def test_the_city_centre_downloads_the_district_it_chose(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        TwoDistricts(client, auth)
        sign_in(client, _reviewer(client, auth, ctx, None), "/statistics")
        page = client.get("/statistics", params={"district": "朝阳区"}).text
        assert 'href="/exports/statistics.xlsx?district=%E6%9C%9D%E9%98%B3%E5%8C%BA"' in page
        one = client.get("/exports/statistics.csv", params={"district": "朝阳区"})
        assert {r[1] for r in _rows(one) if r[0] == "district"} == {"朝阳区"}
        every = client.get("/exports/statistics.csv")
        assert {"海淀区", "朝阳区"} <= {r[1] for r in _rows(every) if r[0] == "district"}

    def test_an_institution_downloads_its_own(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        world = TwoDistricts(client, auth)
        sign_in(client, mint(ctx, Role.institution, world.chaoyang.institution_id), "/statistics")
        page = client.get("/statistics").text
        assert 'href="/exports/outcomes.csv"' in page and 'href="/exports/conversions.xlsx"' in page
        assert "/exports/review-log" not in page
        outcomes = client.get("/exports/outcomes.csv")
        rows = _rows(outcomes)
        assert int(outcomes.headers["x-export-rows"]) == len(rows) == 1
        assert rows[0][0] == world.in_chaoyang
        xlsx = client.get("/exports/outcomes.xlsx")
        assert xlsx.status_code == 200 and int(xlsx.headers["content-length"]) == len(xlsx.content)
        assert client.get("/exports/review-log.csv").status_code == 403
        refused = client.get("/exports/statistics.csv", params={"district": "海淀区"})
        assert refused.status_code == 403

    def test_without_a_session_there_is_no_download(self, client: TestClient, auth: Tokens) -> None:
        TwoDistricts(client, auth)
        for path in ("statistics", "review-log", "outcomes", "conversions"):
            assert client.get(f"/exports/{path}.csv").status_code == 401
