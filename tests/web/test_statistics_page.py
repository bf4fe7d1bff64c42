"""The statistics page (数据看板) per role, signed in through the pages' own form: charts drawn on the
server with the same numbers in tables; a district sub-centre's reviewer asking the page for another
district gets a 403 page with nothing of that district."""

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
