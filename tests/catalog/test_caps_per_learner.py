"""Programme caps are per learner: classmates' conversions never use up a learner's room."""

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.transparency import store
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner


class Exchange:
    """A training centre that posts outcomes, and a school with one programme."""

    def __init__(self, client: TestClient, auth: Tokens, ctx: AppContext, graduation_credits: int) -> None:
        self.client, self.auth, self.ctx = client, auth, ctx
        admin = auth(Role.admin)
        self.source = create_institution(client, admin, kind="training_body")
        self.dest = create_institution(client, admin, kind="vocational_school")
        self.source_headers = auth(Role.institution, self.source)
        self.dest_headers = auth(Role.institution, self.dest)
        r = client.post(
            "/api/v1/programmes",
            json={
                "code": "510201",
                "title_zh": "计算机应用技术",
                "title_en": "Computer Applications",
                "graduation_credits": graduation_credits,
            },
            headers={**self.dest_headers, "Idempotency-Key": "programme"},
        )
        assert r.status_code == 201, r.text
        self.programme = r.json()["id"]
        self.keys = 0

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def post_outcome(self, learner: str, **body: Any) -> str:
        r = self.client.post(
            "/api/v1/outcomes",
            json={
                "learner_id": learner,
                "reference": self.key(),
                "achieved_on": (dt.date.today() - dt.timedelta(days=30)).isoformat(),
                **body,
            },
            headers={**self.source_headers, "Idempotency-Key": self.key()},
        )
        assert r.status_code == 201, r.text
        assert r.json()["recognition"]["status"] == "recognised", r.json()["recognition"]
        return str(r.json()["recognition"]["lot_id"])

    def convert(self, learner: str, lots: list[str]) -> Any:
        """The learner asks for a transfer; the school accepts it. Returns the acceptance response."""
        r = self.client.post(
            "/api/v1/transfers",
            json={"lot_ids": lots, "destination_institution_id": self.dest, "programme_id": self.programme},
            headers={**self.auth(Role.learner, learner), "Idempotency-Key": self.key()},
        )
        assert r.status_code == 201, r.text
        with self.ctx.sessions() as session, session.begin():
            store.publish_checkpoint(session, self.ctx.secrets.master_key, "main")
        return self.client.post(
            f"/api/v1/transfers/{r.json()['id']}/accept",
            json={},
            headers={**self.dest_headers, "Idempotency-Key": self.key()},
        )


def _award(n: int) -> dict[str, Any]:
    return {
        "outcome_type": "competition_award",
        "title": f"全国职业院校技能大赛 赛项{n}",
        "level": "national",
        "attributes": {"competition_id": f"NVSC-{n}", "award_tier": "一等奖"},  # 4 credits
    }


def _skill(n: int) -> dict[str, Any]:
    return {
        "outcome_type": "skill_level_certificate",
        "title": f"职业技能等级证书{n}",
        "level": "三级",
        "field": f"trade-{n}",
    }


class TestShareCapPerLearner:
    def test_three_learners_each_convert_up_to_half_of_their_programme(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        # 16 graduation credits: each learner may convert 8; each holds three 4-credit awards
        world = Exchange(client, auth, ctx, graduation_credits=16)
        for person in range(3):
            learner = create_learner(client, world.source_headers)
            lots = [world.post_outcome(learner, **_award(person * 10 + n)) for n in range(3)]
            accepted = world.convert(learner, lots)
            assert accepted.status_code == 200, accepted.text
            conversion = accepted.json()
            assert Decimal(conversion["credits"]) == Decimal(8), (person, conversion["plan"])
            reasons = [s["reason"] for s in conversion["plan"]["skipped"]]
            assert reasons == ["cap_share"]
            # the learner's own second attempt finds their room used
            later = world.post_outcome(learner, **_award(person * 10 + 9))
            again = world.convert(learner, [later])
            assert again.status_code == 422, again.text
            assert again.json()["type"].endswith("/nothing-to-convert")
            assert [s["reason"] for s in again.json()["skipped"]] == ["cap_share"]


class TestCertificateCapPerLearner:
    def test_each_learner_converts_three_certificates(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        world = Exchange(client, auth, ctx, graduation_credits=120)
        for person in range(3):
            learner = create_learner(client, world.source_headers)
            # an award first: it is not a certificate and must not use the certificate count
            award = world.convert(learner, [world.post_outcome(learner, **_award(person))])
            assert award.status_code == 200, award.text
            first = world.convert(
                learner, [world.post_outcome(learner, **_skill(person * 10 + n)) for n in range(2)]
            )
            assert first.status_code == 200, first.text
            assert len(first.json()["lot_ids"]) == 2
            second = world.convert(
                learner, [world.post_outcome(learner, **_skill(person * 10 + n)) for n in range(2, 4)]
            )
            assert second.status_code == 200, second.text
            plan = second.json()["plan"]
            assert len(second.json()["lot_ids"]) == 1, plan
            assert [(s["reason"], s["rule_id"]) for s in plan["skipped"]] == [
                ("cap_certificates", "BJ-CAP-CERTIFICATES")
            ]
