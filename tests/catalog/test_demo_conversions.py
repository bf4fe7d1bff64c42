"""Conversions on the demo world, through HTTP: what converts, what cannot, and the same table
before sending, before accepting and in the archive after."""

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from creditbank.context import AppContext
from creditbank.demo import load_demo, load_exchange
from creditbank.outcomes.models import Outcome, Recognition
from creditbank.transparency import store
from tests.support.signin import sign_in


class Demo:
    def __init__(self, client: TestClient, ctx: AppContext) -> None:
        self.client, self.ctx = client, ctx
        with ctx.sessions() as session, session.begin():
            self.tokens: dict[str, Any] = load_demo(session, ctx)
        with ctx.sessions() as session, session.begin():
            load_exchange(session, ctx)
        self.university = self.tokens["institutions"]["open-university"]
        programmes = client.get("/api/v1/programmes", params={"institution_id": self.university["id"]}).json()
        [self.programme] = [p["id"] for p in programmes if p["code"] == "BJOU-510201"]
        self.keys = 0

    def headers(self, token: str, key: bool = False) -> dict[str, str]:
        found = {"Authorization": f"Bearer {token}"}
        if key:
            self.keys += 1
            found["Idempotency-Key"] = f"demo-test-{self.keys}"
        return found

    def learner(self, key: str) -> tuple[str, str]:
        person = self.tokens["learners"][key]
        return person["id"], person["token"]

    def lots(self, learner_id: str, *references: str) -> list[str]:
        """The live lots of the learner's outcomes with these references (or their corrections)."""
        with self.ctx.sessions() as session:
            rows = session.exec(
                select(Outcome.reference, Recognition.lot_id)
                .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
                .where(col(Outcome.learner_id) == learner_id, col(Recognition.status) == "recognised")
            ).all()
        # a correction posts the outcome again under a derived reference; its lot is the live one
        return [next(str(lot) for ref, lot in rows if ref.startswith(wanted)) for wanted in references]

    def archive(self, learner_id: str, token: str) -> Any:
        r = self.client.get(f"/api/v1/learners/{learner_id}/archive", headers=self.headers(token))
        assert r.status_code == 200, r.text
        return r.json()

    def checkpoint(self) -> None:
        with self.ctx.sessions() as session, session.begin():
            store.publish_checkpoint(session, self.ctx.secrets.master_key, store.DEFAULT_LOG)


@pytest.fixture
def demo(client: TestClient, ctx: AppContext) -> Demo:
    return Demo(client, ctx)


def _table(lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            line["lot_id"],
            line["outcome"],
            line["destination_code"],
            line["grade"],
            Decimal(line["credits"]),
            Decimal(line["remainder"]),
            line["reason"],
        )
        for line in lines
    ]


class TestDemoEquivalences:
    def test_web201_and_the_degree_courses_convert_for_wang_fang(self, demo: Demo) -> None:
        learner_id, token = demo.learner("wang-fang")
        archive = demo.archive(learner_id, token)
        [conversion] = archive["conversions"]
        by_code: dict[str, list[dict[str, Any]]] = {}
        for line in conversion["lines"]:
            by_code.setdefault(line["destination_code"] or "-", []).append(line)
        web, mooc = by_code["WEB201"]
        # the ungraded 1+X certificate takes the rule's default grade; the item's grade is the lower
        assert web["title"] == "Web前端开发职业技能等级证书"
        assert web["grade"] == "合格"
        assert Decimal(web["credits"]) == Decimal(4)
        assert mooc["title"] == "JavaScript 程序设计"
        # 6 + 2 lot credits fill a 4-credit course: the remainder is forfeited, and says so
        assert Decimal(web["remainder"]) + Decimal(mooc["remainder"]) == Decimal(4)
        assert "余额作废" in web["explanation"]["zh"]
        [basics] = by_code["CS101"]
        assert (basics["title"], Decimal(basics["credits"])) == ("计算机应用基础", Decimal(3))
        # one total everywhere: lots moved = credits counted + remainder forfeited
        assert Decimal(conversion["credits"]) == Decimal(conversion["counted_credits"]) + Decimal(
            conversion["forfeited_credits"]
        )
        assert Decimal(archive["total_converted"]) == Decimal(conversion["credits"])
        assert Decimal(archive["total_counted"]) == Decimal(conversion["counted_credits"])
        assert sum(Decimal(line["credits"]) for line in conversion["lines"]) == Decimal(
            conversion["counted_credits"]
        )
        transfers = demo.client.get("/api/v1/transfers", headers=demo.headers(token)).json()
        [accepted] = [t for t in transfers if t["status"] == "accepted"]
        stored = demo.client.get(f"/api/v1/transfers/{accepted['id']}", headers=demo.headers(token)).json()
        assert stored["conversion_id"]

    def test_a_degree_course_is_banked_at_its_own_credits(self, demo: Demo) -> None:
        university = demo.university
        learner_id, _ = demo.learner("li-wei")
        r = demo.client.post(
            "/api/v1/outcomes",
            json={
                "learner_id": learner_id,
                "reference": "LW-DEG-THESIS",
                "outcome_type": "degree_course",
                "title": "毕业设计",
                "achieved_on": "2026-06-20",
                "grade": "良好",
                "course_code": "CS299",
                "attributes": {"credits": 12},
            },
            headers=demo.headers(university["token"], key=True),
        )
        assert r.status_code == 201, r.text
        recognition = r.json()["recognition"]
        assert (recognition["status"], Decimal(recognition["credits"])) == ("recognised", Decimal(12))


class TestOtherLearnersConvertTheirCertificates:
    """王芳 converted first; her conversion uses none of her classmates' room."""

    def test_li_wei_and_chen_jing_convert_into_bjou_510201(self, demo: Demo) -> None:
        for key, references, converted in (
            ("li-wei", ("LW-1X-CLOUD", "LW-SKILL-NET", "LW-DEG-CS201"), {"ELEC-VOC": 2, "CS201": 1}),
            ("chen-jing", ("CJ-SKILL-CARE", "CJ-1X-CARE"), {"ELEC-VOC": 1}),
        ):
            learner_id, token = demo.learner(key)
            lots = demo.lots(learner_id, *references)
            body = {
                "lot_ids": lots,
                "destination_institution_id": demo.university["id"],
                "programme_id": demo.programme,
            }
            # 1. the learner's preview before sending
            before = demo.client.post("/api/v1/transfers/preview", json=body, headers=demo.headers(token))
            assert before.status_code == 200, before.text
            # 2. the transfer, and the registrar's preview before accepting
            sent = demo.client.post("/api/v1/transfers", json=body, headers=demo.headers(token, key=True))
            assert sent.status_code == 201, sent.text
            transfer_id = sent.json()["id"]
            demo.checkpoint()
            registrar = demo.client.post(
                f"/api/v1/transfers/{transfer_id}/preview", headers=demo.headers(demo.university["token"])
            )
            assert registrar.status_code == 200, registrar.text
            # 3. acceptance
            accepted = demo.client.post(
                f"/api/v1/transfers/{transfer_id}/accept",
                json={},
                headers=demo.headers(demo.university["token"], key=True),
            )
            assert accepted.status_code == 200, accepted.text
            counts: dict[str, int] = {}
            for item in accepted.json()["plan"]["items"]:
                counts[item["destination_code"]] = counts.get(item["destination_code"], 0) + len(
                    item["lot_ids"]
                )
            assert counts == converted, accepted.json()["plan"]
            # 4. the same table before sending, before accepting and in the archive after
            archive = demo.archive(learner_id, token)
            [conversion] = archive["conversions"]
            assert _table(before.json()["lines"]) == _table(registrar.json()["lines"])
            assert _table(conversion["lines"]) == _table(before.json()["lines"])
            assert Decimal(before.json()["total_credits"]) == Decimal(conversion["counted_credits"])
            assert Decimal(accepted.json()["credits"]) == Decimal(conversion["counted_credits"])
            if key == "chen-jing":
                [skill] = [line for line in conversion["lines"] if line["outcome"] == "skipped"]
                assert skill["reason"] == "no_equivalence"


class TestPreviewIsOnlyForThoseConcerned:
    def test_a_learner_cannot_preview_someone_elses_lots(self, demo: Demo) -> None:
        li_wei, _ = demo.learner("li-wei")
        _, chen_token = demo.learner("chen-jing")
        body = {
            "learner_id": li_wei,
            "lot_ids": demo.lots(li_wei, "LW-1X-CLOUD"),
            "destination_institution_id": demo.university["id"],
            "programme_id": demo.programme,
        }
        r = demo.client.post("/api/v1/transfers/preview", json=body, headers=demo.headers(chen_token))
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        # naming no learner, the lots are checked against the caller: not hers
        del body["learner_id"]
        r = demo.client.post("/api/v1/transfers/preview", json=body, headers=demo.headers(chen_token))
        assert r.status_code == 404, r.text

    def test_an_institution_previews_only_lots_it_issued(self, demo: Demo) -> None:
        li_wei, _ = demo.learner("li-wei")
        community = demo.tokens["institutions"]["chaoyang-community"]["token"]
        body = {
            "learner_id": li_wei,
            "lot_ids": demo.lots(li_wei, "LW-1X-CLOUD"),
            "destination_institution_id": demo.university["id"],
            "programme_id": demo.programme,
        }
        r = demo.client.post("/api/v1/transfers/preview", json=body, headers=demo.headers(community))
        assert r.status_code == 403, r.text

    def test_only_the_learner_and_the_destination_preview_a_transfer(self, demo: Demo) -> None:
        li_wei, token = demo.learner("li-wei")
        sent = demo.client.post(
            "/api/v1/transfers",
            json={
                "lot_ids": demo.lots(li_wei, "LW-1X-CLOUD"),
                "destination_institution_id": demo.university["id"],
                "programme_id": demo.programme,
            },
            headers=demo.headers(token, key=True),
        )
        assert sent.status_code == 201, sent.text
        path = f"/api/v1/transfers/{sent.json()['id']}/preview"
        _, other_learner = demo.learner("chen-jing")
        for outsider in (
            other_learner,
            demo.tokens["institutions"]["chaoyang-community"]["token"],
            demo.tokens["institutions"]["skills-training"]["token"],  # an issuer, not the destination
        ):
            r = demo.client.post(path, headers=demo.headers(outsider))
            assert r.status_code == 404, r.text
        assert demo.client.post(path, headers=demo.headers(token)).status_code == 200


class TestValidityLimitsConversionNotTheArchive:
    def test_an_expired_lot_stays_in_the_archive_but_is_neither_available_nor_offered(
        self, demo: Demo
    ) -> None:
        learner_id, token = demo.learner("wang-fang")
        archive = demo.archive(learner_id, token)
        [old] = demo.lots(learner_id, "WF-TRAIN-OLD")
        [lot] = [lot for lot in archive["lots"] if lot["id"] == old]
        assert (lot["state"], lot["expires_on"]) == ("expired", "2022-06-01")
        available = sum(Decimal(x["credits"]) for x in archive["lots"] if x["state"] == "available")
        assert Decimal(archive["total_available"]) == available
        assert Decimal(archive["total_expired"]) == Decimal(lot["credits"])
        # the outcome was approved in review after its validity had ended: recorded with the reason
        [outcome] = [o for o in archive["outcomes"] if o["reference"] == "WF-TRAIN-OLD"]
        assert "已超过有效期（有效期至 2022-06-01）" in outcome["recognition"]["explanation_zh"]
        assert "不可转换" in outcome["events"][-1]["detail_zh"]
        # a preview says why it cannot convert, instead of a 409 after sending
        r = demo.client.post(
            "/api/v1/transfers/preview",
            json={
                "lot_ids": [old],
                "destination_institution_id": demo.university["id"],
                "programme_id": demo.programme,
            },
            headers=demo.headers(token),
        )
        assert r.status_code == 200, r.text
        [line] = r.json()["lines"]
        assert (line["outcome"], line["reason"]) == ("skipped", "expired")
        assert "2022-06-01" in line["explanation"]["zh"]

    def test_the_archive_page_marks_it_and_does_not_offer_it(self, demo: Demo) -> None:
        learner_id, token = demo.learner("wang-fang")
        [old] = demo.lots(learner_id, "WF-TRAIN-OLD")
        sign_in(demo.client, token)
        page = demo.client.get("/archive")
        assert page.status_code == 200
        assert "已过期（不可转换）" in page.text
        assert "有效期至 2022-06-01" in page.text
        assert f'value="{old}"' not in page.text  # not among the lots offered for transfer

    def test_community_and_elderly_education_never_expire(self, demo: Demo) -> None:
        learner_id, token = demo.learner("zhang-min")
        archive = demo.archive(learner_id, token)
        categories = {lot["category"]: lot["expires_on"] for lot in archive["lots"]}
        assert categories["elderly_education"] is None
        assert categories["community_education"] is None


class TestPreviewPages:
    def test_the_learner_and_the_registrar_see_the_plan_on_a_page(self, demo: Demo) -> None:
        li_wei, token = demo.learner("li-wei")
        lots = demo.lots(li_wei, "LW-1X-CLOUD", "LW-DEG-CS201")
        # 1. the learner, before sending, from the archive's transfer form
        csrf = sign_in(demo.client, token)
        page = demo.client.post(
            "/archive/transfer/preview",
            data={"lot_ids": lots, "programme_id": demo.programme, "csrf": csrf},
        )
        assert page.status_code == 200, page.text
        assert 'id="preview-plan"' in page.text
        assert f'data-lot="{lots[1]}" data-outcome="converted"' in page.text
        assert "数据结构" in page.text and 'action="/archive/transfer"' in page.text
        # 2. the transfer is sent; the destination's registrar previews it before accepting
        sent = demo.client.post(
            "/api/v1/transfers",
            json={
                "lot_ids": lots,
                "destination_institution_id": demo.university["id"],
                "programme_id": demo.programme,
            },
            headers=demo.headers(token, key=True),
        )
        assert sent.status_code == 201, sent.text
        transfer_id = sent.json()["id"]
        demo.client.cookies.clear()  # another person, another browser
        sign_in(demo.client, demo.university["token"])
        console = demo.client.get("/console").text
        assert f"/console/transfers/{transfer_id}/preview" in console
        registrar = demo.client.get(f"/console/transfers/{transfer_id}/preview")
        assert registrar.status_code == 200, registrar.text
        assert f'data-lot="{lots[0]}" data-outcome="converted"' in registrar.text
        assert 'action="/console/transfers/accept"' in registrar.text
        # 3. another school sees nothing of it
        demo.client.cookies.clear()
        sign_in(demo.client, demo.tokens["institutions"]["chaoyang-community"]["token"])
        outsider = demo.client.get(f"/console/transfers/{transfer_id}/preview")
        assert outsider.status_code == 404
        assert lots[0] not in outsider.text
