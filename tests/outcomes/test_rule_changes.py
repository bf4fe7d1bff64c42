"""Rule changes: a new rule-set version applies from its effective date, never rewrites old lots, and
its effect on the outcomes in the database can be previewed."""

import dataclasses
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.institutions import service as institutions
from creditbank.ledger.models import Lot
from creditbank.main import create_app
from creditbank.outcomes import rule_preview, service
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.rule_engine import load_rule_set
from tests.conftest import Tokens
from tests.outcomes.factories import PILOT, Desk, key, raised_training_maximum, training, work_experience


class TestPreviewFromDatabase:
    def test_names_the_outcomes_a_new_set_would_credit_differently(
        self, client: TestClient, auth: Tokens, session: Session, tmp_path: Path
    ) -> None:
        desk = Desk(client, auth)
        long_course = desk.posted(training(reference="T-120", hours=120))  # 6 credits under the 2025 rule
        desk.posted(training(reference="T-48", hours=48))  # 3 credits either way
        desk.posted(work_experience())
        revoked = desk.posted(training(reference="T-160", hours=160))
        assert desk.revoke(revoked["id"]).status_code == 200

        old = load_rule_set(PILOT)
        new = load_rule_set(raised_training_maximum(tmp_path / "proposed"))
        result = rule_preview.preview(session, old, new, dt.date.today(), institution_id=desk.institution_id)
        assert result.compared == 3
        assert [a.outcome_id for a in result.affected] == [long_course["id"]]
        [affected] = result.affected
        assert affected.reference == "T-120" and affected.status == "recognised"
        assert affected.difference.old.credits == Decimal(6) and affected.difference.new.credits == Decimal(
            "7.5"
        )
        assert "credits" in affected.difference.changed
        assert long_course["id"] in str(rule_preview.describe(affected))

        with_final = rule_preview.preview(
            session, old, new, dt.date.today(), institution_id=desk.institution_id, include_final=True
        )
        assert {a.outcome_id for a in with_final.affected} == {long_course["id"], revoked["id"]}
        unchanged = rule_preview.preview(
            session, old, old, dt.date.today(), institution_id=desk.institution_id
        )
        assert unchanged.affected == [] and unchanged.compared == 3


class TestEffectiveDates:
    def test_new_version_applies_from_its_date_and_old_lots_keep_their_citation(
        self, ctx: AppContext, auth: Tokens, tmp_path: Path
    ) -> None:
        today = dt.date.today()
        root = tmp_path / "rules"
        shutil.copytree(PILOT, root / "pilot-2025")
        raised_training_maximum(root / "pilot-2026", version="2026.1", effective=today)
        versioned = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"rules_dir": root}))
        first_version = load_rule_set(root / "pilot-2025")
        second_version = load_rule_set(root / "pilot-2026")

        with TestClient(create_app(ctx=versioned), raise_server_exceptions=False) as client:
            desk = Desk(client, auth)
            # yesterday the 2025 version was in force
            with versioned.sessions() as session, session.begin():
                institution = institutions.get(session, desk.institution_id)
                body = OutcomeCreate.model_validate(
                    training(reference="OLD", hours=120, learner_id=desk.learner_id)
                )
                [before] = service.post_rows(
                    session, versioned, institution, [(1, body)], today=today - dt.timedelta(days=1)
                )
            assert before.recognition is not None and before.outcome is not None
            assert before.recognition.rule_set_version == "2025.1"
            assert before.recognition.credits == Decimal(6)
            # from today the 2026 version applies
            after = desk.post(training(reference="NEW", hours=120, learner_id=desk.learner_id), key())
            assert after.status_code == 201, after.text
            rec = after.json()["recognition"]
            assert rec["rule_set_version"] == "2026.1" and rec["rule_set_hash"] == second_version.hash
            assert Decimal(rec["credits"]) == Decimal("7.5")
            # the earlier outcome and its lot still cite the version that recognised them
            earlier = client.get(f"/api/v1/outcomes/{before.outcome.id}", headers=desk.headers).json()
            assert earlier["recognition"]["rule_set_version"] == "2025.1"
            assert earlier["recognition"]["rule_set_hash"] == first_version.hash != second_version.hash
            with versioned.sessions() as session:
                lot = session.get(Lot, earlier["recognition"]["lot_id"])
                assert (
                    lot is not None and lot.rule_set_hash == first_version.hash and lot.credits == Decimal(6)
                )
