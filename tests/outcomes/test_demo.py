"""The demo world: every kind of outcome, reviews, corrections and a revocation, loaded once however
often it runs."""

import re
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlmodel import Session

from creditbank import demo
from creditbank.context import AppContext
from creditbank.demo import load_demo
from creditbank.identifiers import normalise_identity_number, with_credit_code_check, with_identity_check
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
        # each decided at the district stage by its own district's sub-centre
        assert {r.district_reviewer for r in reviewed} == {"demo-fengtai-reviewer", "demo-haidian-reviewer"}
        assert all(r.lot_id is not None for r in reviewed)
        corrections = {r.reference: r for r in rows if r.supersedes_id}
        assert set(corrections) == {"WF-TRAIN-PY~c1", "LW-SKILL-NET~c1"}
        assert all(r.status == "recognised" for r in corrections.values())
        decisions = db.execute(
            text("SELECT count(*) FROM ledger_transactions WHERE kind = 'review_decision'")
        ).scalar_one()
        assert decisions == 4


class TestDemoData:
    """The demo world is read from ``creditbank/demo_data/*.yaml``; check characters come from
    :mod:`creditbank.identifiers`."""

    def test_people_and_institutions_come_from_the_files_with_their_check_characters(self) -> None:
        people = demo._read("people.yaml")["learners"]
        assert [person["name"] for person in demo.DEMO_LEARNERS] == [person["name"] for person in people]
        for person, stored in zip(demo.DEMO_LEARNERS, people, strict=True):
            assert len(stored["identity_number"]) == 17
            assert person["identity_number"] == with_identity_check(stored["identity_number"])
            assert normalise_identity_number(person["identity_number"]) == person["identity_number"]
        codes = [spec["credit_code"] for spec in demo._read("institutions.yaml")]
        assert [spec["credit_code"] for spec in demo.DEMO_INSTITUTIONS] == [
            with_credit_code_check(code) for code in codes
        ]

    def test_every_outcome_names_a_demo_institution_and_learner_and_validates(self) -> None:
        institutions = {spec["key"] for spec in demo.DEMO_INSTITUTIONS}
        learners = {person["key"] for person in demo.DEMO_LEARNERS}
        references = [(spec["by"], spec["reference"]) for spec in demo.DEMO_OUTCOMES]
        assert len(set(references)) == len(references) > 20
        for spec in demo.DEMO_OUTCOMES:
            assert spec["by"] in institutions and spec["learner"] in learners
            assert demo._body(spec, "lrn_demo").outcome_type in OUTCOME_TYPES
        for by, reference, *_ in [*demo.DEMO_REVIEWED, *demo.DEMO_CORRECTIONS, *demo.DEMO_REVOCATIONS]:
            assert (by, reference) in references

    def test_demo_code_holds_no_identity_number_and_no_check_algorithm(self) -> None:
        source = Path(demo.__file__).read_text(encoding="utf-8")
        assert not re.search(r"\d{17}[\dX]", source)
        assert "10X98765432" not in source and "7, 9, 10, 5" not in source
