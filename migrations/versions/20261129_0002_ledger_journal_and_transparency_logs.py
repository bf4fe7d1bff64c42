"""ledger journal and transparency logs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 12:04:02.008257+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = ("ledger_transactions", "ledger_postings", "ledger_lots")

PG_UP = [
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    *(
        f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
        "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        for t in APPEND_ONLY
    ),
    *(
        f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        for t in APPEND_ONLY
    ),
    """
    CREATE FUNCTION ledger_check_zero_sum() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        total numeric;
        n integer;
    BEGIN
        SELECT coalesce(sum(amount), 0), count(*) INTO total, n
          FROM ledger_postings WHERE transaction_id = NEW.id;
        IF n <> NEW.posting_count THEN
            RAISE EXCEPTION 'journal transaction % declares % postings, has %', NEW.id, NEW.posting_count, n
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF total <> 0 THEN
            RAISE EXCEPTION 'postings of journal transaction % sum to %, not zero', NEW.id, total
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE CONSTRAINT TRIGGER ledger_transactions_zero_sum AFTER INSERT ON ledger_transactions "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_zero_sum()",
]

PG_DOWN = [
    "DROP TRIGGER IF EXISTS ledger_transactions_zero_sum ON ledger_transactions",
    "DROP FUNCTION IF EXISTS ledger_check_zero_sum()",
    *(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}" for t in APPEND_ONLY),
    *(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}" for t in APPEND_ONLY),
    "DROP FUNCTION IF EXISTS ledger_refuse_change()",
]

# SQLite has no deferred triggers: the zero-sum check runs when the last declared posting of a
# transaction is inserted (the service inserts the transaction row first, then its postings).
SQLITE_UP = [
    *(
        f"CREATE TRIGGER {t}_no_{op.lower()} BEFORE {op} ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'ledger journal is append-only: {op} on {t} refused'); END"
        for t in APPEND_ONLY
        for op in ("UPDATE", "DELETE")
    ),
    """
    CREATE TRIGGER ledger_postings_zero_sum AFTER INSERT ON ledger_postings
    WHEN (SELECT count(*) FROM ledger_postings WHERE transaction_id = NEW.transaction_id)
         = (SELECT posting_count FROM ledger_transactions WHERE id = NEW.transaction_id)
    BEGIN
        SELECT RAISE(ABORT, 'postings of a journal transaction do not sum to zero')
        WHERE abs((SELECT sum(CAST(amount AS REAL)) FROM ledger_postings
                    WHERE transaction_id = NEW.transaction_id)) > 0.000001;
    END
    """,
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS ledger_postings_zero_sum",
    *(f"DROP TRIGGER IF EXISTS {t}_no_{op.lower()}" for t in APPEND_ONLY for op in ("UPDATE", "DELETE")),
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("balance", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.CheckConstraint(
            "kind NOT IN ('learner_available', 'learner_converted') OR balance >= 0",
            name=op.f("ck_ledger_accounts_learner_not_negative"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "tlog_logs",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_tlog_logs_size_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tlog_logs")),
        sa.UniqueConstraint("origin", name=op.f("uq_tlog_logs_origin")),
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("log_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("reverses_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("posting_count", sa.Integer(), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "posting_count >= 0", name=op.f("ck_ledger_transactions_posting_count_not_negative")
        ),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_ledger_transactions_seq_not_negative")),
        sa.ForeignKeyConstraint(
            ["log_id"], ["tlog_logs.id"], name=op.f("fk_ledger_transactions_log_id_tlog_logs")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_transactions_reverses_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("log_id", "seq", name="uq_ledger_transactions_log_seq"),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transactions_reverses_id")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_transactions_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "tlog_checkpoints",
        sa.Column("log_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"], ["tlog_logs.id"], name=op.f("fk_tlog_checkpoints_log_id_tlog_logs")
        ),
        sa.PrimaryKeyConstraint("log_id", "size", name=op.f("pk_tlog_checkpoints")),
    )
    op.create_table(
        "tlog_nodes",
        sa.Column("log_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["log_id"], ["tlog_logs.id"], name=op.f("fk_tlog_nodes_log_id_tlog_logs")),
        sa.PrimaryKeyConstraint("log_id", "level", "idx", name=op.f("pk_tlog_nodes")),
    )
    op.create_table(
        "ledger_lots",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("issuer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("outcome_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("rule_version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("rule_set_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recognition_tx_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("credits > 0", name=op.f("ck_ledger_lots_credits_positive")),
        sa.CheckConstraint("level BETWEEN 1 AND 7", name=op.f("ck_ledger_lots_level_in_framework")),
        sa.ForeignKeyConstraint(
            ["recognition_tx_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_lots_recognition_tx_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_lots")),
    )
    with op.batch_alter_table("ledger_lots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_lots_learner_id"), ["learner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_lots_outcome_id"), ["outcome_id"], unique=False)

    op.create_table(
        "ledger_postings",
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("position", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("amount", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("lot_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_postings_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_postings_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("transaction_id", "position", name=op.f("pk_ledger_postings")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_postings_account_id", ["account_id"], unique=False)
        batch_op.create_index("ix_ledger_postings_lot_id", ["lot_id"], unique=False)

    op.create_table(
        "ledger_lot_locks",
        sa.Column("lot_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("conversion_tx_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("programme_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversion_tx_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_lot_locks_conversion_tx_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["ledger_lots.id"], name=op.f("fk_ledger_lot_locks_lot_id_ledger_lots")
        ),
        sa.PrimaryKeyConstraint("lot_id", name=op.f("pk_ledger_lot_locks")),
    )

    _run(PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP)


def downgrade() -> None:
    _run(PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN)
    op.drop_table("ledger_lot_locks")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_postings_lot_id")
        batch_op.drop_index("ix_ledger_postings_account_id")

    op.drop_table("ledger_postings")
    with op.batch_alter_table("ledger_lots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_lots_outcome_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_lots_learner_id"))

    op.drop_table("ledger_lots")
    op.drop_table("tlog_nodes")
    op.drop_table("tlog_checkpoints")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_learner_id"))

    op.drop_table("ledger_transactions")
    op.drop_table("tlog_logs")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_owner_id"))

    op.drop_table("ledger_accounts")
    op.drop_table("idempotency_keys")
