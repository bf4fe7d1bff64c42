"""Appeals, tried through real HTTP: a learner appeals a recognition's credits with a statement and
evidence; the reviewers who took part in the decision try to decide it and are refused; another
city centre reviewer changes the credits, and the ledger reverses the old lot and records the new
one (the correction path); a rejection's appeal upheld; the period and the one-appeal rule."""

import datetime as dt
from decimal import Decimal

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.applications.support import apply, decide, image_bytes, pdf_bytes, reviewer
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner


def _evidence() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", ("培训考核表.pdf", pdf_bytes(), "application/pdf")),
        ("files", ("学时记录.jpg", image_bytes("JPEG"), "image/jpeg")),
    ]


def _appeal(
    client: TestClient, headers: dict[str, str], outcome_id: str, statement: str = "实际学时为 64 学时"
) -> Response:
    response: Response = client.post(
        "/api/v1/appeals",
        data={"outcome_id": outcome_id, "statement": statement},
        files=_evidence(),
        headers=headers,
    )
    return response


def _recognised(
    client: TestClient, auth: Tokens, ctx: AppContext
) -> tuple[str, dict[str, str], str, dict[str, str], dict[str, str]]:
    """A learner's application recognised at 3 credits by a district and a city reviewer."""
    admin = auth(Role.admin)
    school = auth(Role.institution, create_institution(client, admin, district="朝阳区"))
    learner_id = create_learner(client, school)
    me = auth(Role.learner, learner_id)
    outcome_id = apply(client, me).json()["outcome"]["id"]
    district, city = reviewer(ctx, "朝阳区", "初审人"), reviewer(ctx, None, "复审人")
    assert decide(client, district, outcome_id, "approve", "初审通过", f"{outcome_id}-1").status_code == 200
    assert decide(client, city, outcome_id, "approve", "复审通过", f"{outcome_id}-2").status_code == 200
    return learner_id, me, outcome_id, district, city


def _decide(
    client: TestClient, headers: dict[str, str], appeal_id: str, key: str, **body: object
) -> Response:
    response: Response = client.post(
        f"/api/v1/appeals/{appeal_id}/decision", json=body, headers={**headers, "Idempotency-Key": key}
    )
    return response


class TestAppealChangingCredits:
    def test_only_an_uninvolved_city_reviewer_decides_and_the_ledger_corrects(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        learner_id, me, outcome_id, district, city = _recognised(client, auth, ctx)
        filed = _appeal(client, me, outcome_id)
        assert filed.status_code == 201, filed.text
        appeal = filed.json()
        assert appeal["status"] == "open" and appeal["was"] == "recognised"
        assert Decimal(appeal["credits_before"]) == 3 and len(appeal["evidence"]) == 2
        file_url = next(e["url"] for e in appeal["evidence"] if e["filename"] == "培训考核表.pdf")
        assert client.get(file_url, headers=me).headers["content-type"] == "application/pdf"

        # the attackers: the reviewers who decided it, a sub-centre, another learner, the school
        took_part = _decide(client, city, appeal["id"], "x-1", decision="change", reason="改判", credits=4)
        assert took_part.status_code == 403, took_part.text
        assert took_part.json()["type"].endswith("/appeal-reviewer-took-part")
        sub = _decide(client, district, appeal["id"], "x-2", decision="change", reason="改判", credits=4)
        assert sub.status_code == 403 and sub.json()["type"].endswith("/appeal-city-centre-only")
        other = auth(
            Role.learner,
            create_learner(client, auth(Role.institution, create_institution(client, auth(Role.admin)))),
        )
        assert _appeal(client, other, outcome_id).status_code == 404
        assert client.get(f"/api/v1/appeals/{appeal['id']}", headers=other).status_code == 404
        assert client.get(file_url, headers=other).status_code == 404
        assert (
            _decide(client, other, appeal["id"], "x-3", decision="uphold", reason="维持").status_code == 403
        )
        assert _appeal(client, me, outcome_id).json()["type"].endswith("/duplicate-appeal")

        # another person at the city centre changes the credits
        fresh = reviewer(ctx, None, "复核人")
        assert client.get(file_url, headers=fresh).status_code == 200
        listed = client.get("/api/v1/appeals", headers=fresh).json()
        assert appeal["id"] in [a["id"] for a in listed]
        changed = _decide(
            client, fresh, appeal["id"], "x-4", decision="change", reason="按 64 学时改判", credits=4
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["status"] == "changed" and Decimal(changed.json()["credits_after"]) == 4
        kinds = (
            db.execute(
                text("SELECT kind FROM ledger_transactions WHERE id = ANY(:ids) ORDER BY id"),
                {"ids": changed.json()["ledger"]},
            )
            .scalars()
            .all()
        )
        assert sorted(kinds) == ["recognition", "reversal"], kinds
        again = _decide(client, reviewer(ctx, None), appeal["id"], "x-5", decision="uphold", reason="再议")
        assert again.status_code == 409 and again.json()["type"].endswith("/appeal-decided")

        archive = client.get(f"/api/v1/learners/{learner_id}/archive", headers=me).json()
        lots = {
            lot["state"]: Decimal(lot["credits"])
            for lot in archive["lots"]
            if lot["outcome_id"] == outcome_id
        }
        assert lots.get("available") == 4, archive["lots"]
        assert len([lot for lot in archive["lots"] if lot["outcome_id"] == outcome_id]) == 2
        inbox = client.get(f"/api/v1/learners/{learner_id}/inbox", headers=me).json()
        assert any("学分由 3 改为 4" in m["text_zh"] for m in inbox), inbox


class TestAppealRules:
    def test_a_rejection_appeal_upheld_and_told(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        admin = auth(Role.admin)
        school = auth(Role.institution, create_institution(client, admin, district="朝阳区"))
        learner_id = create_learner(client, school)
        me = auth(Role.learner, learner_id)
        outcome_id = apply(client, me).json()["outcome"]["id"]
        rejecter = reviewer(ctx, None, "驳回人")
        assert decide(client, rejecter, outcome_id, "reject", "材料不足以证明学时", "rj-1").status_code == 200
        appeal = _appeal(client, me, outcome_id, "补充了考勤记录").json()
        assert appeal["was"] == "rejected"
        upheld = _decide(
            client, reviewer(ctx, None), appeal["id"], "rj-2", decision="uphold", reason="考勤记录不完整"
        )
        assert upheld.status_code == 200 and upheld.json()["status"] == "upheld", upheld.text
        inbox = client.get(f"/api/v1/learners/{learner_id}/inbox", headers=me).json()
        assert any("维持原决定" in m["text_zh"] for m in inbox), inbox

    def test_after_the_period_or_while_in_review_nothing_is_kept(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        learner_id, me, outcome_id, _, _ = _recognised(client, auth, ctx)
        pending = apply(client, me, title="另一项培训").json()["outcome"]["id"]
        in_review = _appeal(client, me, pending)
        assert in_review.status_code == 409 and in_review.json()["type"].endswith("/not-appealable")
        db.execute(
            text("UPDATE recognitions SET updated_at = :t WHERE outcome_id = :o"),
            {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=31), "o": outcome_id},
        )
        late = _appeal(client, me, outcome_id)
        assert late.status_code == 409 and late.json()["type"].endswith("/appeal-period-over"), late.text
        assert _appeal(client, me, outcome_id, " ").status_code == 422
        counts = [
            db.execute(text(f"SELECT count(*) FROM {t} WHERE learner_id = :l"), {"l": learner_id}).scalar()
            for t in ("appeals", "application_files")
        ]
        assert counts == [0, 4]  # the two applications' files only
