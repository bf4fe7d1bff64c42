"""A learner's lifelong learning archive (终身学习档案), its export, and erasure.

How this works:

* The archive is read, never stored: every outcome posted for the learner with its recognition
  (status, explanation in Chinese and English, rule citation) and its history; every credit lot
  with its explanation and state; balances by category and framework level; conversions; and a
  ledger reference (log, index, leaf hash) for every journal entry of the learner, so that each
  item can be checked against the public transparency log; and the transfer certificates issued
  for the learner (listed by the credentials domain).
* The export adds what the vault holds about the person (name, identity number, contact) and the
  log of who else read the archive: everything the bank keeps about the learner, as one JSON file.
* Erasure (:func:`erase`) destroys the personal data and keeps the record: the vault row and with
  it the only copy of the learner's data key are deleted (crypto-shredding), the identity-number
  HMAC is cleared (the person can no longer be found), the learner's tokens are revoked (with the
  browser sessions opened with them), every grant and share link of the learner stops, and a
  tombstone entry (no personal data) is appended to the ledger. The ledger, lots and outcomes stay,
  under the random learner id; the archive keeps working, without a name. No leaf holds a function
  of personal data (see :func:`creditbank.outcomes.service.ledger_content`), so nothing in the
  public log links the random id back to the person. The keyed hashes computed over what was posted
  for the person (``outcomes.request_hash``, the duplicate-detection HMAC over the row as posted,
  identity number and name included, and the stored ``Idempotency-Key`` fingerprints of the requests,
  which are functions of it) are overwritten with :data:`ERASED`: with the pepper, either would
  confirm a guess of the identity number. After the commit, :func:`vacuum_after_erasure` vacuums the
  tables that held the data, so the old row versions do not wait for autovacuum (``VACUUM`` cannot run
  inside a transaction). ``docs/operations.md`` says how long copies survive in the write-ahead log
  and in backups.
"""

import base64
import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from creditbank.auth import accounts, sessions
from creditbank.auth import service as tokens
from creditbank.auth.models import ApiToken, Role
from creditbank.catalog import consent as consents
from creditbank.catalog.models import Conversion
from creditbank.catalog.schemas import ConsentPublic
from creditbank.credentials import service as credentials
from creditbank.credentials.models import Certificate
from creditbank.credentials.schemas import CertificatePublic
from creditbank.db import utcnow
from creditbank.errors import Conflict
from creditbank.i18n import msg
from creditbank.learners import access as grants
from creditbank.learners import service as learners
from creditbank.learners import vault
from creditbank.learners.access import grant_public
from creditbank.learners.models import ArchiveAccess, Learner
from creditbank.learners.schemas import GrantPublic
from creditbank.ledger import service as ledger
from creditbank.ledger.models import IdempotencyRecord, JournalTransaction, Lot, LotLock, Posting, TxKind
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition
from creditbank.outcomes.schemas import LedgerRef, OutcomePublic, RecognitionPublic
from creditbank.rule_engine.conversion import expired
from creditbank.rule_engine.models import ConversionPlan, PlanLine
from creditbank.standards.tlog import merkle

log = logging.getLogger(__name__)

# -- shapes --------------------------------------------------------------------------------------


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


class AlreadyErased(Conflict):
    slug = "learner-already-erased"
    title = "The learner's personal data was already erased"


# -- reading -------------------------------------------------------------------------------------


def ref(tx: JournalTransaction) -> LedgerRef:
    """A journal entry's place in its log; the leaf hash is SHA-256(0x00 || leaf), in base64."""
    return LedgerRef(
        log=tx.log_id,
        index=tx.seq,
        leaf_hash=base64.b64encode(merkle.leaf_hash(tx.leaf)).decode(),
        transaction_id=tx.id,
    )


def _entry(tx: JournalTransaction) -> LedgerEntryRef:
    return LedgerEntryRef(**ref(tx).model_dump(), kind=tx.kind, at=tx.created_at)


def _learner_view(session: Session, master_key: bytes, learner: Learner) -> ArchiveLearner:
    data = vault.load(session, master_key, learner.id)
    return ArchiveLearner(
        id=learner.id,
        created_at=learner.created_at,
        erased=learner.erased_at is not None,
        erased_at=learner.erased_at,
        name=data.name if data else None,
        identity_number_masked=learners.mask_identity_number(data.identity_number) if data else None,
    )


def certificates_of(
    session: Session, learner_id: str, *, with_credentials: bool = True
) -> list[CertificatePublic]:
    """Transfer certificates issued for the learner, newest first, shaped as the credentials domain
    shapes them. The caller has authorised the read of the archive, which covers them; so this
    does not go through :func:`creditbank.credentials.service.list_for_learner`, which would check
    and log the same read a second time."""
    rows = session.exec(
        select(Certificate)
        .where(col(Certificate.learner_id) == learner_id)
        .order_by(col(Certificate.created_at).desc(), col(Certificate.id))
    ).all()
    return [
        CertificatePublic.of(
            row,
            credentials.status_of(row),
            [p.id for p in credentials.parts_of(session, row.id)],
            with_credential=with_credentials,
        )
        for row in rows
    ]


def build_archive(
    session: Session, master_key: bytes, learner: Learner, *, with_credentials: bool = True
) -> Archive:
    """The learner's archive (see the module docstring). Authorisation is the caller's concern
    (:func:`creditbank.learners.service.authorise_read`); so is ``with_credentials``: the signed
    certificates themselves go only to the learner (others see the certificates' records)."""
    history = ledger.history(session, learner.id)
    txs = {tx.id: tx for tx in history}
    reversed_ids = {tx.reverses_id for tx in history if tx.reverses_id}

    def tx_ref(tx_id: str | None) -> LedgerRef | None:
        if tx_id is None:
            return None
        tx = txs.get(tx_id) or session.get(JournalTransaction, tx_id)
        return ref(tx) if tx is not None else None

    # outcomes, recognitions and their history
    rows = session.exec(
        select(Outcome, Recognition)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(col(Outcome.learner_id) == learner.id)
        .order_by(col(Outcome.achieved_on), col(Outcome.created_at))
    ).all()
    outcome_ids = [o.id for o, _ in rows]
    events: dict[str, list[OutcomeEventPublic]] = defaultdict(list)
    if outcome_ids:
        for event in session.exec(
            select(OutcomeEvent)
            .where(col(OutcomeEvent.outcome_id).in_(outcome_ids))
            .order_by(col(OutcomeEvent.at), col(OutcomeEvent.id))
        ).all():
            events[event.outcome_id].append(
                OutcomeEventPublic(
                    kind=event.kind,
                    at=event.at,
                    actor_role=event.actor_role,
                    actor=event.actor,
                    detail_zh=event.detail_zh,
                    detail_en=event.detail_en,
                    ledger=tx_ref(event.ledger_tx_id),
                )
            )
    superseded_by = {o.supersedes_id: o.id for o, _ in rows if o.supersedes_id}
    lots = ledger.lots_of(session, learner.id)
    lot_by_id = {lot.id: lot for lot in lots}
    outcomes = [
        ArchiveOutcome(
            **outcome.model_dump(exclude={"request_hash"}),
            recognition=RecognitionPublic.model_validate(rec, from_attributes=True),
            ledger=tx_ref(lot_by_id[rec.lot_id].recognition_tx_id) if rec.lot_id in lot_by_id else None,
            superseded_by=superseded_by.get(outcome.id),
            events=events.get(outcome.id, []),
        )
        for outcome, rec in rows
    ]
    # lots, explained by the recognition of their outcome
    recognitions = {rec.outcome_id: rec for _, rec in rows}
    locks = {
        lock.lot_id: lock
        for lock in session.exec(
            select(LotLock).where(col(LotLock.lot_id).in_([lot.id for lot in lots]))
        ).all()
    }
    today = dt.date.today()
    archive_lots = [_lot_view(lot, recognitions, locks, reversed_ids, tx_ref, today) for lot in lots]
    # balances (expired lots apart from what can be converted) and conversions
    lines = ledger.balances(session, learner.id)
    lapsed: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for view in archive_lots:
        if view.state == "expired":
            lapsed[(view.category, view.level)] += view.credits
    balances = []
    for line in lines:
        gone = ledger.credits(lapsed.get((line.category, line.level), Decimal(0)))
        balances.append(
            BalancePublic(
                category=line.category,
                level=line.level,
                available=ledger.credits(line.available - gone),
                expired=gone,
                converted=line.converted,
            )
        )
    conversions = _conversions(session, history, reversed_ids)
    live = [c for c in conversions if not c.reversed]
    return Archive(
        learner=_learner_view(session, master_key, learner),
        generated_at=utcnow(),
        outcomes=outcomes,
        lots=archive_lots,
        balances=balances,
        total_available=ledger.credits(sum((b.available for b in balances), Decimal(0))),
        total_expired=ledger.credits(sum((b.expired for b in balances), Decimal(0))),
        total_converted=ledger.credits(sum((b.converted for b in balances), Decimal(0))),
        total_counted=ledger.credits(sum((c.counted_credits or c.credits for c in live), Decimal(0))),
        total_forfeited=ledger.credits(sum((c.forfeited_credits or Decimal(0) for c in live), Decimal(0))),
        conversions=conversions,
        certificates=certificates_of(session, learner.id, with_credentials=with_credentials),
        consents=[
            ConsentPublic.of(row, consents.state_of(row))
            for row in consents.list_for_learner(session, learner.id)
        ],
        ledger=[_entry(tx) for tx in history],
    )


def _lot_view(
    lot: Lot,
    recognitions: dict[str, Recognition],
    locks: dict[str, LotLock],
    reversed_ids: set[str],
    tx_ref: Callable[[str | None], LedgerRef | None],
    today: dt.date,
) -> ArchiveLot:
    rec = recognitions.get(lot.outcome_id or "")
    if lot.recognition_tx_id in reversed_ids:
        state = "reversed"
    elif lot.id in locks:
        state = "converted"
    elif expired(lot.expires_on, today):
        state = "expired"
    else:
        state = "available"
    zh = rec.explanation_zh if rec else f"按规则 {lot.rule_id} 第 {lot.rule_version} 版认定"
    en = rec.explanation_en if rec else f"recognised by rule {lot.rule_id} version {lot.rule_version}"
    return ArchiveLot(
        id=lot.id,
        outcome_id=lot.outcome_id,
        issuer_id=lot.issuer_id,
        credits=lot.credits,
        category=lot.category,
        level=lot.level,
        field=lot.field,
        rule_id=lot.rule_id,
        rule_version=lot.rule_version,
        rule_set_hash=lot.rule_set_hash,
        expires_on=lot.expires_on,
        created_at=lot.created_at,
        state=state,
        converted_into=locks[lot.id].programme_id if state == "converted" else None,
        explanation_zh=zh,
        explanation_en=en,
        ledger=tx_ref(lot.recognition_tx_id),
    )


def _conversions(
    session: Session, history: list[JournalTransaction], reversed_ids: set[str]
) -> list[ConversionPublic]:
    converted = [tx for tx in history if tx.kind == TxKind.conversion.value]
    if not converted:
        return []
    postings: dict[str, list[Posting]] = defaultdict(list)
    for posting in ledger.postings_of(session, [tx.id for tx in converted]):
        postings[posting.transaction_id].append(posting)
    plans = {
        row.ledger_tx_id: row
        for row in session.exec(
            select(Conversion).where(col(Conversion.ledger_tx_id).in_([tx.id for tx in converted]))
        ).all()
    }
    found: list[ConversionPublic] = []
    for tx in converted:
        details = json.loads(tx.leaf).get("details", {})
        mine = postings[tx.id]
        row = plans.get(tx.id)
        plan = ConversionPlan.model_validate(row.plan) if row is not None else None
        found.append(
            ConversionPublic(
                transaction_id=tx.id,
                at=tx.created_at,
                programme_id=details.get("programme"),
                institution_id=details.get("institution"),
                lot_ids=sorted({p.lot_id for p in mine if p.lot_id}),
                credits=ledger.credits(sum((p.amount for p in mine if p.amount > 0), Decimal(0))),
                counted_credits=ledger.credits(row.credits) if row is not None else None,
                forfeited_credits=_forfeited(plan),
                lines=list(plan.lines) if plan is not None else [],
                reversed=tx.id in reversed_ids,
                ledger=ref(tx),
            )
        )
    return found


def _forfeited(plan: ConversionPlan | None) -> Decimal | None:
    """Credits of the converted lots that the plan counted nowhere, item by item (so an item that
    grants more than its lots' credits never hides another item's remainder)."""
    if plan is None:
        return None
    return ledger.credits(sum((item.remainder for item in plan.items), Decimal(0)))


def build_export(
    session: Session, master_key: bytes, learner: Learner, *, with_credentials: bool = True
) -> ArchiveExport:
    """The archive, the vault's personal data and the access log, for download."""
    archive = build_archive(session, master_key, learner, with_credentials=with_credentials)
    data = vault.load(session, master_key, learner.id)
    access = session.exec(
        select(ArchiveAccess)
        .where(col(ArchiveAccess.learner_id) == learner.id)
        .order_by(col(ArchiveAccess.at), col(ArchiveAccess.id))
    ).all()
    return ArchiveExport(
        **dict(archive),
        personal_data=PersonalData(name=data.name, identity_number=data.identity_number, contact=data.contact)
        if data
        else None,
        access_log=[
            AccessRecord(at=a.at, reader_role=a.reader_role, reader_subject=a.reader_subject, what=a.what)
            for a in access
        ],
        grants=[grant_public(g) for g in grants.list_grants(session, learner.id)],
    )


# -- erasure -------------------------------------------------------------------------------------


ERASED = "erased"
"""What erasure writes over a keyed hash of personal data (the outcomes' trigger lets only this in)."""

ERASURE_VACUUM = ("learner_vault", "outcomes", "idempotency_keys", "learners", "learner_accounts")
"""The tables erasure deletes from or overwrites in: vacuumed after it commits."""


def vacuum_after_erasure(engine: Engine) -> None:
    """``VACUUM`` the tables an erasure changed, so that the deleted vault row and the overwritten row
    versions are removed now rather than whenever autovacuum comes by. PostgreSQL only (on SQLite,
    ``secure_delete`` is the equivalent); run after the erasure's commit, outside any transaction. A
    failure is logged, not raised: the erasure itself is done, and autovacuum will do the same later.
    """
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM {', '.join(ERASURE_VACUUM)}")
    except Exception:  # the response is sent already; autovacuum is the fallback
        log.exception("VACUUM after an erasure failed; autovacuum will remove the old row versions")


def erase(
    session: Session, learner_id: str, *, requested_by: Role
) -> tuple[ErasureResult, JournalTransaction]:
    """Erase a learner's personal data (see the module docstring). Authorisation is the caller's.

    Raises:
        LearnerNotFound: no such learner.
        AlreadyErased: erased before.
    """
    # 1. the learner, not yet erased
    learner = learners.get(session, learner_id)
    if learner.erased_at is not None:
        raise AlreadyErased(
            msg(
                "detail.archive.learner_was_erased",
                learner_id=learner_id,
                erased_at=learner.erased_at.isoformat(),
            )
        )
    # 2. crypto-shredding: the vault row holds the only copy of the wrapped data key
    shredded = vault.shred(session, learner_id)
    # 3. no more lookup by identity number (learners is not a journal table: a plain UPDATE)
    now = utcnow()
    session.execute(
        update(Learner).where(col(Learner.id) == learner_id).values(erased_at=now, lookup_hmac=None)
    )
    # 3b. the keyed hashes of what was posted for the person, and the fingerprints of the requests
    # that posted it (a stored response names the learner), no longer confirm a guess of the person
    session.execute(update(Outcome).where(col(Outcome.learner_id) == learner_id).values(request_hash=ERASED))
    session.execute(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.response).contains(learner_id, autoescape=True))
        .values(request_hash=ERASED)
    )
    # 4. the tombstone: what happened, without anything personal
    tombstone = ledger.record_event(
        session,
        TxKind.erasure,
        learner_id=learner_id,
        details={
            "learner": learner_id,
            "action": "erasure",
            "vault": "shredded" if shredded else "absent",
            "requested_by": requested_by.value,
        },
    )
    # 5. the learner's own tokens stop working
    live = session.exec(
        select(ApiToken.id).where(
            col(ApiToken.role) == Role.learner.value,
            col(ApiToken.subject) == learner_id,
            col(ApiToken.revoked_at).is_(None),
        )
    ).all()
    for token_id in live:
        tokens.revoke_token(session, token_id)
    sessions.end_for_tokens(session, list(live))
    # 5b. the learner's own account: its submitted data, sign-in name and password go, and its sessions
    for account_id in accounts.erase_for_learner(session, learner_id):
        sessions.end_for_account(session, account_id)
    # 6. nobody reads through the learner's grants or share links any more
    grants.revoke_everything(session, learner_id)
    session.expire(learner)
    result = ErasureResult(
        learner_id=learner_id,
        erased_at=now,
        vault_shredded=shredded,
        tokens_revoked=len(live),
        tombstone=ref(tombstone),
    )
    return result, tombstone
