"""The double-entry journal.

How this works:

* ``ledger_accounts`` hold a running ``balance`` (credits, NUMERIC) for quick checks; a CHECK keeps
  learners' accounts from going negative. Writers lock accounts in sorted id order.
* ``ledger_transactions`` are the journal: each row is one committed journal transaction and one
  leaf of its log's Merkle tree (``leaf`` = the RFC 8785 canonical JSON that is hashed). Its
  postings are in ``ledger_postings``. Both are append-only (triggers refuse UPDATE and DELETE);
  the postings of a transaction sum to zero (a deferred constraint trigger on PostgreSQL; on SQLite
  a trigger checks the sum once the declared number of postings is in).
* ``ledger_lots`` are credit lots created by recognitions (immutable).
* ``ledger_lot_locks`` has a row per lot while it is converted: the primary key makes "converted
  at most once" a database fact; reversing the conversion deletes the lock row.
* ``idempotency_keys`` stores the first response to each (scope, key).
"""

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from creditbank.db import CreditAmount, UTCDateTime, utcnow
from creditbank.standards.ledger.leaf import TxKind

__all__ = [
    "Account",
    "AccountKind",
    "IdempotencyRecord",
    "JournalTransaction",
    "Lot",
    "LotLock",
    "Posting",
    "TxKind",
]


class AccountKind(StrEnum):
    learner_available = "learner_available"
    learner_converted = "learner_converted"
    issuer = "issuer"
    programme = "programme"


class Account(SQLModel, table=True):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(
            "kind NOT IN ('learner_available', 'learner_converted') OR balance >= 0",
            name="learner_not_negative",
        ),
    )

    id: str = Field(primary_key=True, max_length=120, description="e.g. learner:<id>:available")
    kind: str = Field(sa_type=String(24), max_length=24)
    owner_id: str = Field(max_length=80, index=True)
    balance: Decimal = Field(default=Decimal(0), sa_type=CreditAmount, description="credits")


class JournalTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        UniqueConstraint("log_id", "seq", name="uq_ledger_transactions_log_seq"),
        CheckConstraint("seq >= 0", name="seq_not_negative"),
        CheckConstraint("posting_count >= 0", name="posting_count_not_negative"),
    )

    id: str = Field(primary_key=True, max_length=40)
    log_id: str = Field(sa_column_args=[ForeignKey("tlog_logs.id")], max_length=40)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(sa_type=String(24), max_length=24)
    learner_id: str | None = Field(default=None, max_length=40, index=True)
    reverses_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("ledger_transactions.id")], unique=True, max_length=40
    )
    posting_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    leaf: bytes = Field(sa_type=LargeBinary, description="RFC 8785 canonical JSON of this entry")


class Posting(SQLModel, table=True):
    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_postings_account_id", "account_id"),
        Index("ix_ledger_postings_lot_id", "lot_id"),
    )

    transaction_id: str = Field(
        sa_column_args=[ForeignKey("ledger_transactions.id")], primary_key=True, max_length=40
    )
    position: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    account_id: str = Field(sa_column_args=[ForeignKey("ledger_accounts.id")], max_length=120)
    amount: Decimal = Field(sa_type=CreditAmount, description="credits; positive adds to the account")
    lot_id: str | None = Field(default=None, max_length=40)


class Lot(SQLModel, table=True):
    __tablename__ = "ledger_lots"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("level BETWEEN 1 AND 7", name="level_in_framework"),
    )

    id: str = Field(primary_key=True, max_length=40)
    learner_id: str = Field(max_length=40, index=True)
    issuer_id: str = Field(max_length=40)
    outcome_id: str | None = Field(default=None, max_length=40, index=True)
    credits: Decimal = Field(sa_type=CreditAmount, description="credits")
    category: str = Field(max_length=60)
    level: int = Field(sa_column=Column(SmallInteger, nullable=False))
    field: str = Field(default="", max_length=120)
    rule_id: str = Field(max_length=80)
    rule_version: str = Field(max_length=40)
    rule_set_hash: str = Field(max_length=64)
    recognition_tx_id: str = Field(sa_column_args=[ForeignKey("ledger_transactions.id")], max_length=40)
    expires_on: dt.date | None = Field(default=None)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LotLock(SQLModel, table=True):
    __tablename__ = "ledger_lot_locks"

    lot_id: str = Field(sa_column_args=[ForeignKey("ledger_lots.id")], primary_key=True, max_length=40)
    conversion_tx_id: str = Field(sa_column_args=[ForeignKey("ledger_transactions.id")], max_length=40)
    programme_id: str = Field(max_length=80)
    institution_id: str = Field(max_length=40)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    scope: str = Field(primary_key=True, max_length=80, description="who: role and subject")
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(sa_type=String(64))
    status_code: int | None = Field(default=None)
    response: str | None = Field(default=None, sa_type=Text)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
