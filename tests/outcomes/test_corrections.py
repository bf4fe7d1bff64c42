"""Revoking and correcting outcomes: never an edit, always an append."""

import json
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction, LotLock
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, key, training, work_experience
from tests.support.factories import create_institution

PROBLEM = "application/problem+json"


def available(session: Session, learner_id: str) -> Decimal:
    return ledger.account_balance(session, ledger.available_account(learner_id))


def leaf(session: Session, tx_id: str) -> dict[str, Any]:
    tx = session.get(JournalTransaction, tx_id)
    assert tx is not None
    data: dict[str, Any] = json.loads(tx.leaf)
    return data


class TestRevoke:
    def test_revoke_reverses_the_lot(self, client: TestClient, auth: Tokens, session: Session) -> None:
        desk = Desk(client, auth)
        posted = desk.posted(training(hours=48))
        assert available(session, desk.learner_id) == Decimal(3)

        revoked = desk.revoke(posted["id"], reason="培训机构撤回：学员未参加考核")
        assert revoked.status_code == 200, revoked.text
        body = revoked.json()
        assert body["outcome"]["recognition"]["status"] == "revoked"
        assert [ref["log"] for ref in body["ledger"]] == ["main"]
        assert available(session, desk.learner_id) == Decimal(0)
        reversal = session.get(JournalTransaction, body["ledger"][0]["transaction_id"])
        assert reversal is not None and reversal.kind == "reversal"
        assert "学员未参加考核" in json.loads(reversal.leaf)["details"]["reason"]

        again = desk.revoke(posted["id"])
        assert again.status_code == 409 and again.json()["type"].endswith("/outcome-final")

    def test_revoke_reverses_a_conversion_first(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        desk = Desk(client, auth)
        posted = desk.posted(training(hours=64))
        lot_id = posted["recognition"]["lot_id"]
        with session.begin():
            ledger.convert_lots(
                session,
                learner_id=desk.learner_id,
                lot_ids=[lot_id],
                programme_id="prog-web",
                institution_id=desk.institution_id,
            )
        assert ledger.account_balance(session, ledger.converted_account(desk.learner_id)) == Decimal(4)

        revoked = desk.revoke(posted["id"])
        assert revoked.status_code == 200, revoked.text
        kinds = [
            leaf(session, ref["transaction_id"])["details"]["reversed_kind"]
            for ref in revoked.json()["ledger"]
        ]
        assert kinds == ["conversion", "recognition"]
        session.expire_all()
        assert session.get(LotLock, lot_id) is None
        assert ledger.account_balance(session, ledger.converted_account(desk.learner_id)) == Decimal(0)
        assert available(session, desk.learner_id) == Decimal(0)

    def test_revoke_in_review_leaves_the_queue_with_a_note(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience())["id"]
        revoked = desk.revoke(outcome_id, reason="重复提交")
        assert revoked.status_code == 200, revoked.text
        note = session.get(JournalTransaction, revoked.json()["ledger"][0]["transaction_id"])
        assert note is not None and note.kind == "note"
        assert json.loads(note.leaf)["details"] == {
            "outcome": outcome_id,
            "action": "revoked",
            "was": "review",
            "reason": "重复提交",
            "by": desk.institution_id,
        }
        queue = client.get("/api/v1/reviews", headers=auth(Role.reviewer)).json()
        assert outcome_id not in [item["outcome"]["id"] for item in queue]
        assert desk.decide(outcome_id, auth(Role.reviewer)).status_code == 409

    def test_only_the_posting_institution(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        outcome_id = desk.posted(training())["id"]
        stranger = auth(Role.institution, create_institution(client, desk.admin))
        refused = desk.revoke(outcome_id, headers=stranger)
        assert refused.status_code == 404 and refused.headers["content-type"] == PROBLEM
        assert desk.revoke(outcome_id, headers=desk.admin).status_code == 403
        no_key = client.post(
            f"/api/v1/outcomes/{outcome_id}/revoke", json={"reason": "xx"}, headers=desk.headers
        )
        assert no_key.status_code == 422
        assert client.get(f"/api/v1/outcomes/{outcome_id}", headers=desk.headers).json()["recognition"][
            "status"
        ] == ("recognised")


class TestCorrect:
    def test_correction_supersedes_and_reposts(
        self, client: TestClient, auth: Tokens, session: Session, db: Connection
    ) -> None:
        desk = Desk(client, auth)
        old = desk.posted(training(reference="T-7", hours=40))
        assert available(session, desk.learner_id) == Decimal("2.5")

        corrected = desk.correct(old["id"], training(reference="T-7", hours=48))
        assert corrected.status_code == 201, corrected.text
        body = corrected.json()
        new = body["outcome"]
        assert new["reference"] == "T-7~c1" and new["supersedes_id"] == old["id"]
        assert new["recognition"]["status"] == "recognised"
        assert Decimal(new["recognition"]["credits"]) == Decimal(3)
        assert body["superseded"]["recognition"]["status"] == "superseded"
        assert body["changes"] == ["hours: 40 -> 48"]
        assert available(session, desk.learner_id) == Decimal(3)
        reason = leaf(session, body["ledger"][0]["transaction_id"])["details"]["reason"]
        assert reason == f"corrected: superseded by {new['id']} (changed: hours)"  # names, not values
        assert leaf(session, new["ledger"]["transaction_id"])["details"]["supersedes"] == old["id"]
        # the old row is untouched: outcomes are never edited
        hours = db.execute(text("SELECT hours FROM outcomes WHERE id = :i"), {"i": old["id"]}).scalar_one()
        assert Decimal(hours) == Decimal(40)

        # a correction of the correction, repeating the first reference
        second = desk.correct(new["id"], training(reference="T-7", hours=64))
        assert second.status_code == 201, second.text
        assert second.json()["outcome"]["reference"] == "T-7~c2"
        assert available(session, desk.learner_id) == Decimal(4)
        # the old outcome is final
        assert desk.correct(old["id"], training(reference="T-8", hours=16)).status_code == 409

    def test_resending_the_original_is_a_duplicate(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        desk = Desk(client, auth)
        original = training(reference="T-1", hours=40, learner_id=desk.learner_id)
        old = desk.post(original).json()
        assert desk.correct(old["id"], training(reference="FIX-1", hours=48)).status_code == 201
        again = desk.post(original)
        assert again.status_code == 200 and again.json()["id"] == old["id"]
        assert again.json()["recognition"]["status"] == "superseded"
        assert available(session, desk.learner_id) == Decimal(3)

    def test_correction_of_review_outcome_and_count_once(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        award = {
            "outcome_type": "competition_award",
            "title": "北京市职业技能大赛 电工 二等奖",
            "achieved_on": "2026-06-01",
            "level": "provincial",
            "attributes": {"competition_id": "2026-BJ-007"},
        }
        old = desk.posted({**award, "reference": "C-1", "title": "北京市职业技能大赛 电工 三等奖"})
        fixed = desk.correct(old["id"], {**award, "reference": "C-1"})
        assert fixed.status_code == 201, fixed.text
        # counted once: the superseded award no longer holds the competition
        assert fixed.json()["outcome"]["recognition"]["status"] == "recognised"
        waiting = desk.posted(work_experience(years=1))
        moved = desk.correct(waiting["id"], work_experience(reference="W-2", years=3))
        assert moved.status_code == 201, moved.text
        assert moved.json()["superseded"]["recognition"]["status"] == "superseded"
        assert moved.json()["outcome"]["recognition"]["stage"] == "district"

    def test_bad_corrections_write_nothing(self, client: TestClient, auth: Tokens, session: Session) -> None:
        desk = Desk(client, auth)
        old = desk.posted(training(reference="T-1", hours=40))
        taken = desk.posted(training(reference="T-2", hours=16))
        same = desk.correct(old["id"], training(reference="T-1", hours=40))
        assert same.status_code == 422 and same.json()["type"].endswith("/nothing-to-correct")
        clash = desk.correct(old["id"], training(reference=taken["reference"], hours=48))
        assert clash.status_code == 409 and clash.json()["type"].endswith("/correction-reference-taken")
        lost = client.post(
            f"/api/v1/outcomes/{old['id']}/correct",
            json=training(reference="T-3", learner_id="lrn_nobody"),
            headers={**desk.headers, "Idempotency-Key": key()},
        )
        assert lost.status_code == 404, lost.text
        invalid = desk.correct(old["id"], training(reference="T-3", hours=-1))
        assert invalid.status_code == 422
        # nothing of the failed attempts is left: the old outcome still stands with its credits
        current = client.get(f"/api/v1/outcomes/{old['id']}", headers=desk.headers).json()
        assert current["recognition"]["status"] == "recognised"
        assert available(session, desk.learner_id) == Decimal("3.5")
        kinds = session.exec(
            select(JournalTransaction.kind).where(col(JournalTransaction.learner_id) == desk.learner_id)
        ).all()
        assert sorted(kinds) == ["recognition", "recognition"]

    def test_idempotent_correction(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        old = desk.posted(training(hours=40))
        same = key()
        first = desk.correct(old["id"], training(hours=48), idempotency_key=same)
        replay = desk.correct(old["id"], training(hours=48), idempotency_key=same)
        assert first.status_code == replay.status_code == 201
        assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
        other = desk.correct(old["id"], training(hours=64), idempotency_key=same)
        assert other.status_code == 409
