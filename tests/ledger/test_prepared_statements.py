"""The append's statements on PostgreSQL: what is prepared on the connection (only statements with no
plan to choose: inserted values, and the log's row in a table of a few rows), and the entries of
one append written as one statement per table, not one per row."""

from sqlalchemy import text
from sqlmodel import Session

from creditbank.ids import random_id
from creditbank.ledger import idempotency, service
from creditbank.ledger.append import known_accounts
from creditbank.transparency import store
from tests.ledger.factories import recognition

ISSUER = "ins_prepared"


def _prepared(session: Session) -> list[str]:
    return list(session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())


def test_the_plan_free_statements_are_prepared_and_no_read_of_a_growing_table(session: Session) -> None:
    learners = [random_id("lrn") for _ in range(3)]
    known_accounts.forget([service.available_account(learner) for learner in learners])
    assert idempotency.claim(session, "test:prepared", "key-prepared-1", "0" * 64) is None
    entries = [
        service.recognition_entry(recognition(learner_id=learner, issuer_id=ISSUER))[0]
        for learner in learners
    ]
    service.append(session, store.DEFAULT_LOG, entries)
    prepared = _prepared(session)
    assert any(s.startswith("INSERT INTO idempotency_keys ") and "ON CONFLICT" in s for s in prepared), (
        prepared
    )
    assert any(s.startswith("INSERT INTO ledger_accounts ") for s in prepared), prepared
    assert "SELECT size, frontier FROM tlog_logs WHERE id = $1 FOR NO KEY UPDATE" in prepared
    assert "UPDATE tlog_logs SET size = $1, frontier = $2 WHERE id = $3" in prepared
    # the accounts' lock reads a table that grows: planned at each run, never prepared
    assert not [s for s in prepared if "ledger_accounts" in s and not s.startswith("INSERT")], prepared


def test_an_appends_rows_go_as_one_statement_per_table(session: Session) -> None:
    entries = [
        service.recognition_entry(recognition(learner_id=random_id("lrn"), issuer_id=ISSUER))[0]
        for _ in range(3)
    ]
    appended = service.append(session, store.DEFAULT_LOG, entries)
    prepared = _prepared(session)

    def lists(table: str) -> list[int]:
        return sorted(s.count("($") for s in prepared if s.startswith(f"INSERT INTO {table} "))

    assert lists("ledger_transactions") == [3]
    assert lists("ledger_postings") == [6]  # two postings an entry
    assert lists("ledger_lots") == [3]
    stored = session.execute(
        text("SELECT id FROM ledger_transactions WHERE id = ANY(:ids) ORDER BY seq"),
        {"ids": [tx.id for tx in appended]},
    ).scalars()
    assert list(stored) == [tx.id for tx in appended]
