"""Small typed factories for ledger tests."""

from decimal import Decimal

from sqlmodel import Session

from creditbank.ids import InstitutionId, LearnerId, random_id
from creditbank.ledger import service
from creditbank.ledger.models import JournalTransaction, Lot


def recognition(
    *,
    learner_id: str | None = None,
    issuer_id: str = "ins_test",
    credits: str = "2.5",
    category: str = "vocational",
    level: int = 4,
) -> service.Recognition:
    return service.Recognition(
        learner_id=LearnerId(learner_id or random_id("lrn")),
        issuer_id=InstitutionId(issuer_id),
        credits=Decimal(credits),
        category=category,
        level=level,
        field="computing",
        rule_id="bj-training-hours",
        rule_version="1",
        rule_set_hash="ab" * 32,
    )


def recognise(session: Session, log_id: str = "main", **kwargs: str | int) -> tuple[JournalTransaction, Lot]:
    return service.record_recognition(session, recognition(**kwargs), log_id)  # type: ignore[arg-type]
