"""Tables of the transparency logs: one row per log (its counter and frontier), the stored Merkle
nodes, and the signed checkpoints.

A log's ``size`` is its gapless counter: a writer locks the row (``SELECT ... FOR NO KEY UPDATE``), takes
the next sequence numbers, appends the leaves' nodes and stores the new frontier, all in the
transaction that writes the journal entries, so sequence numbers follow commit order.
"""

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime, utcnow


class TransparencyLog(SQLModel, table=True):
    __tablename__ = "tlog_logs"
    __table_args__ = (CheckConstraint("size >= 0", name="size_not_negative"),)

    id: str = Field(primary_key=True, max_length=40, description="log id used in URLs, e.g. main")
    origin: str = Field(sa_type=String(200), unique=True, description="C2SP origin line and key name")
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    frontier: bytes = Field(default=b"", sa_type=LargeBinary, description="right-edge perfect subtree hashes")
    public_key: bytes = Field(sa_type=LargeBinary, description="Ed25519 public key, 32 bytes")
    private_key_sealed: bytes = Field(
        sa_type=LargeBinary, description="Ed25519 seed sealed under the master key"
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MerkleNode(SQLModel, table=True):
    """Root of the perfect subtree over leaves [idx * 2**level, (idx + 1) * 2**level)."""

    __tablename__ = "tlog_nodes"

    log_id: str = Field(sa_column_args=[ForeignKey("tlog_logs.id")], primary_key=True, max_length=40)
    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_type=LargeBinary)


class SignedCheckpoint(SQLModel, table=True):
    __tablename__ = "tlog_checkpoints"

    log_id: str = Field(sa_column_args=[ForeignKey("tlog_logs.id")], primary_key=True, max_length=40)
    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_type=LargeBinary)
    note: str = Field(sa_type=Text, description="the signed note, byte for byte as served")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
