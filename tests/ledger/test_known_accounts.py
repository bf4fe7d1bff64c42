"""An append creates only the accounts it does not know to exist (creditbank.ledger.append._KnownAccounts),
and an account known wrongly (its row is not there) is created all the same."""

from decimal import Decimal

from sqlalchemy import Connection, text
from sqlmodel import Session

from creditbank.ledger import service
from creditbank.ledger.append import known_accounts
from tests.ledger.factories import recognise
from tests.support.postgres import as_superuser

ISSUER = "ins_known_accounts"


def _count_account_inserts(db: Connection) -> None:
    """Count the ``INSERT`` statements on ``ledger_accounts`` (a statement trigger fires even when
    ``ON CONFLICT DO NOTHING`` inserts no row), within the test's transaction."""
    with as_superuser(db):
        db.execute(text("CREATE TABLE test_account_inserts (n int)"))
        db.execute(
            text(
                "CREATE FUNCTION test_count_account_inserts() RETURNS trigger LANGUAGE plpgsql "
                "SECURITY DEFINER AS $$ BEGIN INSERT INTO test_account_inserts VALUES (1); "
                "RETURN NULL; END $$"
            )
        )
        db.execute(
            text(
                "CREATE TRIGGER test_count_account_inserts BEFORE INSERT ON ledger_accounts "
                "FOR EACH STATEMENT EXECUTE FUNCTION test_count_account_inserts()"
            )
        )


def _inserts(db: Connection) -> int:
    with as_superuser(db):
        return int(db.execute(text("SELECT count(*) FROM test_account_inserts")).scalar_one())


def test_accounts_known_to_exist_are_not_inserted_again(session: Session, db: Connection) -> None:
    learner = "lrn_known_twice"
    accounts = [service.available_account(learner), service.issuer_account(ISSUER)]
    known_accounts.forget(accounts)
    _count_account_inserts(db)
    recognise(session, learner_id=learner, issuer_id=ISSUER, credits="1")  # creates both accounts
    recognise(session, learner_id=learner, issuer_id=ISSUER, credits="1")  # finds both: learnt
    assert _inserts(db) == 2
    recognise(session, learner_id=learner, issuer_id=ISSUER, credits="1")
    assert _inserts(db) == 2  # no INSERT for the accounts known to exist
    assert service.account_balance(session, accounts[0]) == Decimal("3.00")
    assert service.account_balance(session, accounts[1]) == Decimal("-3.00")


def test_an_account_known_wrongly_is_created(session: Session) -> None:
    """A database rebuilt under a running process, or a transaction that created the row and rolled
    back: the id is known, the row is not there; the append creates it and balances it as usual."""
    learner = "lrn_known_wrongly"
    accounts = [service.available_account(learner), service.issuer_account(ISSUER)]
    known_accounts.learn(accounts)
    tx, lot = recognise(session, learner_id=learner, issuer_id=ISSUER, credits="2.5")
    assert lot.recognition_tx_id == tx.id
    assert service.account_balance(session, accounts[0]) == Decimal("2.50")
    assert service.account_balance(session, accounts[1]) == Decimal("-2.50")
    assert known_accounts.unknown(accounts) == accounts  # forgotten: the next append inserts them
