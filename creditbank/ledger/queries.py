"""Reads of the ledger: a learner's balances, history, lots and postings, an account's balance."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from creditbank.ledger.append import credits
from creditbank.ledger.models import Account, JournalTransaction, Lot, LotLock, Posting
from creditbank.standards.ledger.leaf import available_account, converted_account


@dataclass(frozen=True)
class BalanceLine:
    category: str
    level: int
    available: Decimal
    converted: Decimal


# a learner's credits by category, level and account (available, converted): one statement, built once
BALANCES = (
    select(Lot.category, Lot.level, Posting.account_id, func.sum(Posting.amount))
    .join(Lot, col(Lot.id) == col(Posting.lot_id))
    .where(col(Posting.account_id).in_([bindparam("available"), bindparam("converted")]))
    .group_by(col(Lot.category), col(Lot.level), col(Posting.account_id))
)


def balances_params(learner_id: str) -> dict[str, str]:
    """The parameters of :data:`BALANCES` for the learner."""
    return {"available": available_account(learner_id), "converted": converted_account(learner_id)}


def balance_lines(rows: Iterable[Sequence[Any]], learner_id: str) -> list[BalanceLine]:
    """The rows of :data:`BALANCES` as the learner's balance lines, by category and level."""
    table: dict[tuple[str, int], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for category, level, account_id, total in rows:
        slot = 0 if account_id == available_account(learner_id) else 1
        table[(category, int(level))][slot] += Decimal(str(total))
    return [
        BalanceLine(category=c, level=lv, available=credits(v[0]), converted=credits(v[1]))
        for (c, lv), v in sorted(table.items())
    ]


def balances(session: Session, learner_id: str) -> list[BalanceLine]:
    """The learner's credits by category and framework level (available and converted)."""
    return balance_lines(session.exec(BALANCES, params=balances_params(learner_id)).all(), learner_id)


def account_balance(session: Session, account_id: str) -> Decimal:
    found = session.exec(select(col(Account.balance)).where(col(Account.id) == account_id)).first()
    return found if found is not None else Decimal(0)


def history(session: Session, learner_id: str) -> list[JournalTransaction]:
    stmt = (
        select(JournalTransaction)
        .where(col(JournalTransaction.learner_id) == learner_id)
        .order_by(col(JournalTransaction.created_at), col(JournalTransaction.seq))
    )
    return list(session.exec(stmt).all())


def lots_of(session: Session, learner_id: str) -> list[Lot]:
    return list(
        session.exec(select(Lot).where(col(Lot.learner_id) == learner_id).order_by(col(Lot.created_at))).all()
    )


def postings_of(session: Session, tx_ids: Iterable[str]) -> list[Posting]:
    return list(
        session.exec(
            select(Posting)
            .where(col(Posting.transaction_id).in_(list(tx_ids)))
            .order_by(col(Posting.transaction_id), col(Posting.position))
        ).all()
    )


def lot_conversion(session: Session, lot_id: str) -> LotLock | None:
    return session.get(LotLock, lot_id)
