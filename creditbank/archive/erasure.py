"""Erasing a learner's personal data while keeping the record.

How this works: see :mod:`creditbank.archive.service` (erasure destroys the personal data by
crypto-shredding, clears the lookup HMAC and the keyed hashes of what was posted, revokes the
learner's tokens, sessions, grants and share links, and appends a tombstone to the ledger; the
archive keeps working under the random learner id). After the commit, :func:`vacuum_after_erasure`
vacuums the tables that held the data.
"""

import logging

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from creditbank.applications import service as applications
from creditbank.archive.schemas import ErasureResult
from creditbank.archive.service import ref
from creditbank.auth import accounts, sessions
from creditbank.auth import service as tokens
from creditbank.auth.models import ApiToken, Role
from creditbank.db import utcnow
from creditbank.errors import Conflict
from creditbank.i18n import msg
from creditbank.learners import access as grants
from creditbank.learners import service as learners
from creditbank.learners import vault
from creditbank.learners.models import Learner
from creditbank.ledger import service as ledger
from creditbank.ledger.models import IdempotencyRecord, JournalTransaction, TxKind
from creditbank.outcomes.models import Outcome

log = logging.getLogger(__name__)


class AlreadyErased(Conflict):
    slug = "learner-already-erased"
    title = "The learner's personal data was already erased"


ERASED = "erased"
"""What erasure writes over a keyed hash of personal data (the outcomes' trigger lets only this in)."""

ERASURE_VACUUM = (
    "learner_vault",
    "application_files",
    "outcomes",
    "idempotency_keys",
    "learners",
    "learner_accounts",
)
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
    applications.shred_files(session, learner_id)  # sealed under that key: unreadable, and now gone
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
