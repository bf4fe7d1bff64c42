"""Fixtures for the certificate service: a registered institution, a learner, real ledger lots,
a published checkpoint, and issued certificates (real keys, real signatures, real PostgreSQL)."""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.credentials import issuance
from creditbank.credentials.issuance import IssuedCertificate
from creditbank.ids import InstitutionId, LearnerId
from creditbank.institutions import service as institutions
from creditbank.institutions.models import InstitutionKind
from creditbank.learners import service as learners
from creditbank.ledger import service as ledger
from creditbank.ledger.models import Lot
from creditbank.transparency import store
from tests.support.factories import credit_code, identity_number

FIRST_CREDIT_CODE = "91310110666007217T"


def register_institution(
    session: Session, *, code: str | None = None, name: str = "北京市示范职业学院"
) -> str:
    row = institutions.register(
        session,
        name_zh=name,
        name_en="Beijing Model Vocational College",
        credit_code=code or credit_code(),
        kind=InstitutionKind.vocational_school,
        district="海淀区",
    )
    session.flush()
    return row.id


def register_learner(session: Session, ctx: AppContext, institution_id: str | None = None) -> str:
    learner, _ = learners.register(
        session,
        identity_key=ctx.identity_key,
        master_key=ctx.secrets.master_key,
        name="王小明",
        identity_number=identity_number(),
        institution_id=institution_id,
    )
    return learner.id


def record_lot(
    session: Session,
    *,
    learner_id: str,
    issuer_id: str,
    credits: str = "2.5",
    expires_on: dt.date | None = None,
) -> Lot:
    _, lot = ledger.record_recognition(
        session,
        ledger.Recognition(
            learner_id=LearnerId(learner_id),
            issuer_id=InstitutionId(issuer_id),
            credits=Decimal(credits),
            category="vocational",
            level=4,
            field="计算机应用",
            rule_id="bj-training-hours",
            rule_version="3",
            rule_set_hash="ab" * 32,
            outcome_id="out_test0001",
            expires_on=expires_on,
        ),
    )
    return lot


@dataclass
class World:
    """An institution, one of its learners and a lot it issued, in the test's transaction."""

    ctx: AppContext
    institution_id: str
    learner_id: str
    lot_id: str

    def tx(self) -> Session:
        """A session in its own savepoint (use as ``with world.tx() as s, s.begin():``)."""
        return self.ctx.sessions()

    def issue(self, lot_id: str | None = None, **kwargs: Any) -> IssuedCertificate:
        with self.tx() as s, s.begin():
            return issuance.issue_lot_certificate(s, self.ctx, lot_id=lot_id or self.lot_id, **kwargs)

    def lot(self, **kwargs: Any) -> str:
        with self.tx() as s, s.begin():
            kwargs.setdefault("learner_id", self.learner_id)
            kwargs.setdefault("issuer_id", self.institution_id)
            return record_lot(s, **kwargs).id

    def publish(self) -> None:
        with self.tx() as s, s.begin():
            store.publish_checkpoint(s, self.ctx.secrets.master_key, store.DEFAULT_LOG)

    def run(self, work: Callable[[Session], Any]) -> Any:
        with self.tx() as s, s.begin():
            return work(s)


@pytest.fixture
def world(ctx: AppContext) -> World:
    with ctx.sessions() as s, s.begin():
        institution_id = register_institution(s, code=FIRST_CREDIT_CODE)
        learner_id = register_learner(s, ctx, institution_id)
        lot_id = record_lot(s, learner_id=learner_id, issuer_id=institution_id).id
    return World(ctx=ctx, institution_id=institution_id, learner_id=learner_id, lot_id=lot_id)
