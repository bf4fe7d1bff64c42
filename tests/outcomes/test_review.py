"""Manual review in two stages: the queue, decisions, four eyes, the ledger and the history."""

import json
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes.models import OutcomeEvent
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, key, training, work_experience

PROBLEM = "application/problem+json"


def _entries(session: Session, learner_id: str) -> list[dict[str, Any]]:
    rows = session.exec(
        select(JournalTransaction)
        .where(col(JournalTransaction.learner_id) == learner_id)
        .order_by(col(JournalTransaction.seq))
    ).all()
    return [json.loads(tx.leaf) for tx in rows]


class TestQueue:
    def test_review_outcomes_wait_with_facts_credits_and_reason(
        self, client: TestClient, auth: Tokens
    ) -> None:
        desk = Desk(client, auth)
        waiting = desk.posted(work_experience(years=2))
        desk.posted(training())  # recognised at once: not in the queue
        reviewer = auth(Role.reviewer)

        listed = client.get("/api/v1/reviews", params={"stage": "district"}, headers=reviewer)
        assert listed.status_code == 200, listed.text
        mine = [item for item in listed.json() if item["outcome"]["learner_id"] == desk.learner_id]
        assert [item["outcome"]["id"] for item in mine] == [waiting["id"]]
        item = mine[0]
        assert item["stage"] == "district"
        assert Decimal(item["proposed_credits"]) == Decimal(4)
        assert "两级审核" in item["reason_zh"] and "reviewed" in item["reason_en"]
        assert item["outcome"]["attributes"] == {"years": 2}
        assert item["district_reviewer"] is None

        city = client.get("/api/v1/reviews", params={"stage": "city"}, headers=reviewer).json()
        assert waiting["id"] not in [i["outcome"]["id"] for i in city]
        assert client.get("/api/v1/reviews", params={"stage": "county"}, headers=reviewer).status_code == 422

    def test_institutions_and_learners_may_not_list(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        for headers in (desk.headers, auth(Role.learner, desk.learner_id), auth(Role.auditor)):
            refused = client.get("/api/v1/reviews", headers=headers)
            assert refused.status_code == 403
            assert refused.headers["content-type"] == PROBLEM


class TestDecide:
    def test_two_stages_four_eyes_and_ledger(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience(years=2))["id"]
        district, city = auth(Role.reviewer), auth(Role.reviewer)

        # district approval: on to the city stage, nothing credited yet
        first = desk.decide(outcome_id, district, reason="区级分中心核实劳动合同", stage="district")
        assert first.status_code == 200, first.text
        body = first.json()
        rec = body["outcome"]["recognition"]
        assert (rec["status"], rec["stage"], rec["lot_id"]) == ("review", "city", None)
        assert body["decision"]["stage"] == "district" and body["decision"]["decision"] == "approve"
        district_id = body["decision"]["reviewer"]
        assert district_id.startswith("rev_")
        queued = client.get("/api/v1/reviews", params={"stage": "city"}, headers=city).json()
        assert [i["district_reviewer"] for i in queued if i["outcome"]["id"] == outcome_id] == [district_id]

        # the same reviewer may not decide the city stage
        same = desk.decide(outcome_id, district, reason="市级管理中心复核")
        assert same.status_code == 403, same.text
        assert same.json()["type"].endswith("/four-eyes-required")

        # city approval with other credits: a lot, cited and explained
        second = desk.decide(outcome_id, city, reason="市级管理中心复核，按 1.5 年认定", credits="3")
        assert second.status_code == 200, second.text
        done = second.json()
        rec = done["outcome"]["recognition"]
        assert rec["status"] == "recognised" and rec["stage"] is None
        assert Decimal(rec["credits"]) == Decimal(3) and rec["lot_id"].startswith("lot_")
        assert "两级审核认定 3 学分" in rec["explanation_zh"]
        assert done["outcome"]["ledger"]["leaf_hash"]
        assert done["decision"]["reviewer"] != district_id

        lines = ledger.balances(session, desk.learner_id)
        assert sum((line.available for line in lines), Decimal(0)) == Decimal(3)
        entries = _entries(session, desk.learner_id)
        assert [e["kind"] for e in entries] == ["review_decision", "review_decision", "recognition"]
        assert [e["details"]["stage"] for e in entries[:2]] == ["district", "city"]
        assert entries[0]["details"]["reviewer"] == district_id
        assert entries[0]["details"]["reason"] == "区级分中心核实劳动合同"
        assert entries[2]["details"]["decision"]["reviewer"] == done["decision"]["reviewer"]
        assert entries[2]["lots"][0]["credits"] == "3.00"

        events = session.exec(
            select(OutcomeEvent)
            .where(col(OutcomeEvent.outcome_id) == outcome_id)
            .order_by(col(OutcomeEvent.id))
        ).all()
        assert [e.kind for e in events] == ["review", "decision", "recognised"]
        assert [e.actor for e in events[1:]] == [district_id, done["decision"]["reviewer"]]
        assert all(e.ledger_tx_id for e in events[1:])

        again = desk.decide(outcome_id, auth(Role.reviewer), reason="再次审核")
        assert again.status_code == 409 and again.json()["type"].endswith("/not-in-review")

    def test_reject_at_district_ends_review(self, client: TestClient, auth: Tokens, session: Session) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience())["id"]
        rejected = desk.decide(outcome_id, auth(Role.reviewer), decision="reject", reason="无法核实工作经历")
        assert rejected.status_code == 200, rejected.text
        rec = rejected.json()["outcome"]["recognition"]
        assert rec["status"] == "rejected" and rec["lot_id"] is None
        assert "无法核实工作经历" in rec["explanation_zh"]
        assert ledger.balances(session, desk.learner_id) == []
        assert [e["details"]["decision"] for e in _entries(session, desk.learner_id)] == ["reject"]
        later = desk.decide(outcome_id, auth(Role.reviewer))
        assert later.status_code == 409 and later.headers["content-type"] == PROBLEM

    def test_reject_at_city(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(training(achieved_on="2015-03-01"))["id"]  # older than 5 years
        assert desk.decide(outcome_id, auth(Role.reviewer)).status_code == 200
        rejected = desk.decide(outcome_id, auth(Role.reviewer), decision="reject", reason="超过有效期")
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["outcome"]["recognition"]["status"] == "rejected"
        assert rejected.json()["decision"]["stage"] == "city"

    def test_stage_mismatch_and_unknown_outcome(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience())["id"]
        reviewer = auth(Role.reviewer)
        wrong = desk.decide(outcome_id, reviewer, stage="city")
        assert wrong.status_code == 409, wrong.text
        assert wrong.json()["type"].endswith("/review-stage-mismatch")
        assert wrong.json()["stage"] == "district"
        missing = desk.decide("out_nosuchoutcome", reviewer)
        assert missing.status_code == 404 and missing.json()["type"].endswith("/outcome-not-found")
        recognised = desk.posted(training(reference="T-9"))["id"]
        assert desk.decide(recognised, reviewer).status_code == 409

    def test_credits_must_be_positive_half_steps(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience())["id"]
        assert desk.decide(outcome_id, auth(Role.reviewer)).status_code == 200
        city = auth(Role.reviewer)
        odd = desk.decide(outcome_id, city, credits="2.3")
        assert odd.status_code == 422 and odd.json()["type"].endswith("/review-credits-invalid")
        for bad in ("0", "-1", "abc", "1000"):
            assert desk.decide(outcome_id, city, credits=bad).status_code == 422, bad
        assert (
            desk.decide(outcome_id, city, credits="2.5").json()["outcome"]["recognition"]["credits"] == "2.50"
        )

    def test_idempotency_key_replays_and_refuses_reuse(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience())["id"]
        reviewer = auth(Role.reviewer)
        same = key()
        first = desk.decide(outcome_id, reviewer, idempotency_key=same)
        replay = desk.decide(outcome_id, reviewer, idempotency_key=same)
        assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
        assert replay.json() == first.json()
        other = desk.decide(outcome_id, reviewer, decision="reject", idempotency_key=same)
        assert other.status_code == 409 and other.json()["type"].endswith("/idempotency-key-reused")
        missing = client.post(
            f"/api/v1/reviews/{outcome_id}/decision",
            json={"decision": "approve", "reason": "ok ok"},
            headers=reviewer,
        )
        assert missing.status_code == 422 and missing.json()["type"].endswith("/idempotency-key-invalid")


class TestFourEyesArePeople:
    """Attacker's view: one reviewer holds two tokens (or asks an admin for a second one) and
    decides both stages of one outcome."""

    def _account(self, client: TestClient, auth: Tokens, name: str) -> str:
        created = client.post(
            "/api/v1/reviewers", json={"name": name, "unit": "市级管理中心"}, headers=auth(Role.admin)
        )
        assert created.status_code == 201, created.text
        account: str = created.json()["id"]
        return account

    def test_two_tokens_of_one_account_are_one_reviewer(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience(years=2))["id"]
        account = self._account(client, auth, "李审核")
        first_token, second_token = auth(Role.reviewer, account), auth(Role.reviewer, account)
        assert first_token != second_token

        assert desk.decide(outcome_id, first_token, stage="district").status_code == 200
        same_person = desk.decide(outcome_id, second_token, stage="city")
        assert same_person.status_code == 403, same_person.text
        assert same_person.headers["content-type"] == PROBLEM
        assert same_person.json()["type"].endswith("/four-eyes-required")

        other = auth(Role.reviewer, self._account(client, auth, "王复核"))
        assert desk.decide(outcome_id, other, stage="city").status_code == 200

    def test_admins_and_tokens_without_an_account_decide_nothing(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience(years=2))["id"]
        admin = desk.decide(outcome_id, auth(Role.admin), stage="district")
        assert admin.status_code == 403 and admin.headers["content-type"] == PROBLEM
        # a reviewer token naming no account cannot even be minted
        refused = client.post("/api/v1/tokens", json={"role": "reviewer"}, headers=auth(Role.admin))
        assert refused.status_code == 422 and refused.json()["type"].endswith("/token-subject-required")
        unknown = client.post(
            "/api/v1/tokens", json={"role": "reviewer", "subject": "rev_nobody"}, headers=auth(Role.admin)
        )
        assert unknown.status_code == 422 and unknown.json()["type"].endswith("/reviewer-account-unknown")
        assert all(e["kind"] != "review_decision" for e in _entries(session, desk.learner_id))
