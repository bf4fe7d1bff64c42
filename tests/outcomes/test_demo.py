"""The demo world: every kind of outcome, reviews, corrections and a revocation, loaded once however
often it runs."""

from collections import Counter
from typing import Any

from sqlalchemy import Connection, text
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.demo import load_demo
from creditbank.rule_engine.models import OUTCOME_TYPES


def _load(ctx: AppContext) -> dict[str, Any]:
    with ctx.sessions() as session, session.begin():
        return load_demo(session, ctx)


def _counts(db: Connection) -> dict[str, int]:
    tables = (
        "institutions",
        "learners",
        "outcomes",
        "recognitions",
        "outcome_events",
        "ledger_transactions",
        "ledger_lots",
        "idempotency_keys",
    )
    return {t: int(db.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}


class TestDemo:
    def test_twice_adds_nothing_and_has_every_kind(
        self, ctx: AppContext, db: Connection, session: Session
    ) -> None:
        first = _load(ctx)
        after_first = _counts(db)
        second = _load(ctx)
        assert _counts(db) == after_first, "a second load applied something twice"
        assert set(first) == {"admin", "reviewer", "city_reviewer", "auditor", "institutions", "learners"}
        assert {k: v["id"] for k, v in first["learners"].items()} == {
            k: v["id"] for k, v in second["learners"].items()
        }
        assert first["admin"] != second["admin"], "each run mints fresh tokens"

        rows = db.execute(
            text(
                "SELECT o.learner_id, o.outcome_type, o.reference, o.supersedes_id, r.status, r.stage, "
                "r.district_reviewer, r.lot_id FROM outcomes o JOIN recognitions r ON r.outcome_id = o.id"
            )
        ).all()
        assert {r.outcome_type for r in rows} == set(OUTCOME_TYPES)
        recognised_types = {r.outcome_type for r in rows if r.status == "recognised"}
        assert recognised_types == set(OUTCOME_TYPES), "the shipped rules recognise every kind"
        wang = first["learners"]["wang-fang"]["id"]
        mine = [r for r in rows if r.learner_id == wang]
        assert len(mine) >= 10 and len({r.outcome_type for r in mine}) == len(OUTCOME_TYPES)

        statuses = Counter(r.status for r in rows)
        assert statuses["review"] >= 2 and statuses["superseded"] == 2 and statuses["revoked"] == 1
        assert statuses["rejected"] >= 1
        waiting = {r.reference for r in rows if r.status == "review"}
        assert waiting == {"LW-WORK-OPS", "ZM-TRAIN-OLD"}
        reviewed = [r for r in rows if r.reference in ("WF-TRAIN-OLD", "WF-WORK-DEV")]
        assert [r.status for r in reviewed] == ["recognised", "recognised"]
        assert {r.district_reviewer for r in reviewed} == {"demo-district-reviewer"}
        assert all(r.lot_id is not None for r in reviewed)
        corrections = {r.reference: r for r in rows if r.supersedes_id}
        assert set(corrections) == {"WF-TRAIN-PY~c1", "LW-SKILL-NET~c1"}
        assert all(r.status == "recognised" for r in corrections.values())
        decisions = db.execute(
            text("SELECT count(*) FROM ledger_transactions WHERE kind = 'review_decision'")
        ).scalar_one()
        assert decisions == 4
