"""The shapes of a learner's archive, its export and an erasure's result (JSON and OpenAPI)."""

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

from creditbank.catalog.schemas import ConsentPublic
from creditbank.credentials.schemas import CertificatePublic
from creditbank.learners.schemas import GrantPublic
from creditbank.outcomes.schemas import LedgerRef, OutcomePublic
from creditbank.rule_engine.models import PlanLine


class ArchiveLearner(BaseModel):
    id: str = Field(description="the bank's random learner id")
    created_at: dt.datetime
    erased: bool = Field(description="true after erasure: personal data destroyed")
    erased_at: dt.datetime | None
    name: str | None = Field(description="name from the vault (null after erasure)")
    identity_number_masked: str | None = Field(description="e.g. 110105********002X (null after erasure)")


class LedgerEntryRef(LedgerRef):
    kind: str = Field(description="recognition, conversion, reversal, review_decision, erasure, note")
    at: dt.datetime = Field(description="when the entry was appended")


class OutcomeEventPublic(BaseModel):
    kind: str = Field(description="recognised, review, rejected, decision, revoked, corrected")
    at: dt.datetime
    actor_role: str = Field(description="institution, reviewer or admin")
    actor: str | None = Field(description="institution id, or the reviewer's id")
    detail_zh: str
    detail_en: str
    ledger: LedgerRef | None = Field(description="the journal entry of this step, if any")


class ArchiveOutcome(OutcomePublic):
    superseded_by: str | None = Field(description="the correction that replaced this outcome, if any")
    events: list[OutcomeEventPublic] = Field(description="what happened to the outcome, oldest first")


class ArchiveLot(BaseModel):
    id: str
    outcome_id: str | None
    issuer_id: str
    credits: Decimal = Field(description="credits")
    category: str
    level: int = Field(description="framework level 1-7")
    field: str
    rule_id: str
    rule_version: str
    rule_set_hash: str
    expires_on: dt.date | None = Field(
        description="day the lot's validity ends: from then on it stays here but cannot be converted"
    )
    created_at: dt.datetime
    state: str = Field(
        description="available, converted, reversed, or expired (kept in the archive, not convertible)"
    )
    converted_into: str | None = Field(description="programme the lot is converted into, while converted")
    explanation_zh: str
    explanation_en: str
    ledger: LedgerRef | None = Field(description="the recognition entry that created the lot")


class BalancePublic(BaseModel):
    category: str
    level: int = Field(description="framework level 1-7")
    available: Decimal = Field(description="credits not converted and still within their validity")
    expired: Decimal = Field(
        default=Decimal(0), description="credits not converted whose validity has ended (not convertible)"
    )
    converted: Decimal = Field(description="credits of lots converted into programmes")


class ConversionPublic(BaseModel):
    transaction_id: str
    at: dt.datetime
    programme_id: str | None
    institution_id: str | None
    lot_ids: list[str]
    credits: Decimal = Field(description="credits of the lots moved to converted")
    counted_credits: Decimal | None = Field(
        description="credits the conversion counts towards the programme (null when no plan is recorded)"
    )
    forfeited_credits: Decimal | None = Field(
        description="credits of the lots beyond the courses they fill, counted nowhere (remainder policy)"
    )
    lines: list[PlanLine] = Field(description="the conversion lot by lot, as previewed before acceptance")
    reversed: bool = Field(description="true when the conversion was reversed (its lots freed)")
    ledger: LedgerRef


class Archive(BaseModel):
    """Everything the bank records about a learner's learning, with the ledger entries behind it."""

    learner: ArchiveLearner
    generated_at: dt.datetime
    outcomes: list[ArchiveOutcome]
    lots: list[ArchiveLot]
    balances: list[BalancePublic] = Field(description="by category and framework level")
    total_available: Decimal = Field(description="credits that can still be converted (可用学分)")
    total_expired: Decimal = Field(
        default=Decimal(0),
        description="credits kept in the archive whose validity has ended (已过期，不可转换)",
    )
    total_converted: Decimal = Field(description="credits of lots converted into programmes")
    total_counted: Decimal = Field(
        default=Decimal(0), description="credits those conversions count towards their programmes"
    )
    total_forfeited: Decimal = Field(
        default=Decimal(0), description="credits of converted lots counted nowhere (remainder policy)"
    )
    conversions: list[ConversionPublic]
    certificates: list[CertificatePublic] = Field(
        description="transfer certificates issued for the learner, newest first"
    )
    consents: list[ConsentPublic] = Field(
        description="the learner's consents: which institution may convert which lots, newest first"
    )
    ledger: list[LedgerEntryRef] = Field(description="every journal entry of the learner, oldest first")


class PersonalData(BaseModel):
    name: str
    identity_number: str
    contact: str | None


class AccessRecord(BaseModel):
    at: dt.datetime
    reader_role: str
    reader_subject: str | None
    what: str


class ArchiveExport(Archive):
    """The archive with the personal data the vault holds and who else read it (portability)."""

    personal_data: PersonalData | None = Field(description="null after erasure")
    access_log: list[AccessRecord] = Field(description="reads of this learner's data by others")
    grants: list[GrantPublic] = Field(
        description="institutions the learner let read the archive, newest first"
    )


class ErasureResult(BaseModel):
    learner_id: str
    erased_at: dt.datetime
    vault_shredded: bool = Field(description="false when no vault row existed")
    tokens_revoked: int = Field(description="learner tokens revoked")
    tombstone: LedgerRef = Field(description="the erasure entry in the ledger")
