"""Applications for recognition with evidence, tried through real HTTP: a verified learner applies
with two files, the district sub-centre returns it for more material, the learner resubmits, two
different people approve it in two stages and the credits land in the archive and the ledger; and
the evidence, read only by the learner and the reviewers of the application's stage and district."""

import hashlib
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.applications.support import apply, decide, image_bytes, pdf_bytes, reviewer
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner


def _learner(client: TestClient, auth: Tokens) -> tuple[str, dict[str, str], dict[str, str]]:
    """A learner registered by a school, their own token, and the school's token."""
    admin = auth(Role.admin)
    school = auth(Role.institution, create_institution(client, admin, district="朝阳区"))
    learner_id = create_learner(client, school)
    return learner_id, auth(Role.learner, learner_id), school


class TestTheWholeWay:
    def test_apply_return_resubmit_two_people_approve_credits_in_archive(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        learner_id, me, _ = _learner(client, auth)
        pdf, png = pdf_bytes(), image_bytes("PNG")
        filed = apply(
            client,
            me,
            files=[
                ("files", ("结业证书.pdf", pdf, "application/pdf")),
                ("files", ("学时证明.png", png, "image/png")),
            ],
        )
        assert filed.status_code == 201, filed.text
        body = filed.json()
        application_id, outcome_id = body["id"], body["outcome"]["id"]
        assert body["state"] == "district" and body["district"] == "朝阳区"
        assert [e["media_type"] for e in body["evidence"]] == ["application/pdf", "image/png"]
        hashes = ["sha256:" + hashlib.sha256(d).hexdigest() for d in (pdf, png)]
        assert [e["sha256"] for e in body["evidence"]] == hashes
        manifest = "sha256:" + hashlib.sha256("".join(h + "\n" for h in hashes).encode()).hexdigest()
        assert body["outcome"]["evidence_hash"] == manifest
        assert Decimal(body["outcome"]["recognition"]["credits"]) == 3  # the rules' proposal
        # stored sealed: the bytes of neither file are in the table
        sealed = (
            db.execute(
                text("SELECT sealed FROM application_files WHERE application_id = :a"), {"a": application_id}
            )
            .scalars()
            .all()
        )
        assert len(sealed) == 2 and all(
            pdf[:64] not in bytes(s) and png[8:40] not in bytes(s) for s in sealed
        )

        chaoyang = reviewer(ctx, "朝阳区", "朝阳区审核员")
        queue = client.get("/api/v1/reviews", headers=chaoyang).json()
        assert [i["application"] for i in queue if i["outcome"]["id"] == outcome_id] == [application_id]

        # 1. returned for more material; the learner is told what is missing
        returned = decide(client, chaoyang, outcome_id, "return", "请补充培训机构盖章的学时证明", "a-1")
        assert returned.status_code == 200, returned.text
        assert returned.json()["outcome"]["recognition"]["stage"] == "returned"
        assert outcome_id not in [
            i["outcome"]["id"] for i in client.get("/api/v1/reviews", headers=chaoyang).json()
        ]
        inbox = client.get(f"/api/v1/learners/{learner_id}/inbox", headers=me)
        assert inbox.status_code == 200, inbox.text
        assert any("请补充培训机构盖章的学时证明" in m["text_zh"] for m in inbox.json()), inbox.text
        # a decision on a returned application waits for the learner
        early = decide(client, chaoyang, outcome_id, "approve", "过早", "a-2")
        assert early.status_code == 409, early.text

        # 2. the learner resubmits; history kept
        jpeg = image_bytes("JPEG")
        again = client.post(
            f"/api/v1/applications/{application_id}/resubmission",
            data={"note": "已补充盖章学时证明"},
            files=[("files", ("盖章证明.jpg", jpeg, "image/jpeg"))],
            headers=me,
        )
        assert again.status_code == 200, again.text
        assert again.json()["state"] == "district" and again.json()["rounds"] == 2
        assert [e["round"] for e in again.json()["evidence"]] == [1, 1, 2]
        kinds = [h["kind"] for h in again.json()["history"]]
        assert kinds == ["review", "returned", "resubmitted"]
        twice = client.post(
            f"/api/v1/applications/{application_id}/resubmission",
            files=[("files", ("x.png", image_bytes(), "image/png"))],
            headers=me,
        )
        assert twice.status_code == 409 and twice.json()["type"].endswith("/application-not-returned")

        # 3. two stages, two people: the district, then the city centre
        first = decide(client, chaoyang, outcome_id, "approve", "材料齐全", "a-3")
        assert first.status_code == 200, first.text
        assert first.json()["outcome"]["recognition"]["stage"] == "city"
        city_a = reviewer(ctx, None, "市级管理中心审核员甲")
        city_b = reviewer(ctx, None, "市级管理中心审核员乙")
        assert decide(client, chaoyang, outcome_id, "approve", "再批", "a-4").status_code == 403
        final = decide(client, city_a, outcome_id, "approve", "复审通过", "a-5")
        assert final.status_code == 200, final.text
        outcome = final.json()["outcome"]
        assert outcome["recognition"]["status"] == "recognised" and outcome["ledger"] is not None
        assert decide(client, city_b, outcome_id, "approve", "又批", "a-6").status_code == 409

        # 4. credits in the archive, recorded by the same rules
        archive = client.get(f"/api/v1/learners/{learner_id}/archive", headers=me).json()
        lots = [lot for lot in archive["lots"] if lot["outcome_id"] == outcome_id]
        assert len(lots) == 1 and Decimal(lots[0]["credits"]) == 3, archive["lots"]
        assert lots[0]["rule_id"] == outcome["recognition"]["rule_id"] is not None

    def test_the_district_approver_may_not_decide_the_city_stage(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        _, me, _ = _learner(client, auth)
        outcome_id = apply(client, me).json()["outcome"]["id"]
        city = reviewer(ctx, None, "市级管理中心审核员")
        assert decide(client, city, outcome_id, "approve", "初审通过", "f-1").status_code == 200
        same = decide(client, city, outcome_id, "approve", "我再复审", "f-2")
        assert same.status_code == 403 and same.json()["type"].endswith("/four-eyes-required")

    def test_an_institutions_outcome_cannot_be_returned(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        learner_id, _, school = _learner(client, auth)
        posted = client.post(
            "/api/v1/outcomes",
            json={
                "learner_id": learner_id,
                "reference": "work-1",
                "outcome_type": "work_experience",
                "title": "电工岗位工作经历",
                "achieved_on": "2025-06-01",
                "attributes": {"years": 2},
            },
            headers={**school, "Idempotency-Key": "work-1"},
        )
        assert posted.status_code == 201, posted.text
        refused = decide(client, reviewer(ctx, None), posted.json()["id"], "return", "补材料", "r-1")
        assert refused.status_code == 409 and refused.json()["type"].endswith("/return-not-applicable")


class TestEvidenceViewer:
    def test_inline_for_the_learner_and_the_reviewers_of_its_stage_only(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        _, me, school = _learner(client, auth)
        body = apply(client, me).json()
        url = body["evidence"][0]["url"]
        mine = client.get(url, headers=me)
        assert mine.status_code == 200
        assert mine.headers["content-type"] == "application/pdf"
        assert mine.headers["content-disposition"].startswith("inline;")
        assert mine.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'none'" in mine.headers["content-security-policy"]
        assert mine.content.startswith(b"%PDF-")
        png = client.get(body["evidence"][1]["url"], headers=me)
        assert (
            png.headers["content-type"] == "image/png" and "sandbox" in png.headers["content-security-policy"]
        )
        chaoyang = reviewer(ctx, "朝阳区")
        assert client.get(url, headers=chaoyang).status_code == 200
        assert client.get(f"/api/v1/applications/{body['id']}", headers=chaoyang).status_code == 200

        # the attackers: another learner, another district's reviewer, the school, an admin
        _, other, _ = _learner(client, auth)
        assert client.get(url, headers=other).status_code == 404
        assert client.get(f"/api/v1/applications/{body['id']}", headers=other).status_code == 404
        haidian = reviewer(ctx, "海淀区")
        outside = client.get(url, headers=haidian)
        assert outside.status_code == 403 and outside.json()["type"].endswith("/review-outside-district")
        assert client.get(url, headers=school).status_code == 403
        assert client.get(url, headers=auth(Role.admin)).status_code == 403
        assert client.get(url).status_code == 401
        # a file of another application through this one's path
        other_body = apply(client, other).json()
        crossed = client.get(
            f"/applications/{body['id']}/evidence/{other_body['evidence'][0]['id']}", headers=me
        )
        assert crossed.status_code == 404

        # past the district stage, the district's reviewer no longer reads it
        assert (
            decide(client, chaoyang, body["outcome"]["id"], "approve", "初审通过", "v-1").status_code == 200
        )
        late = client.get(url, headers=chaoyang)
        assert late.status_code == 403 and late.json()["type"].endswith("/city-stage-only")
        assert client.get(url, headers=reviewer(ctx, None)).status_code == 200
