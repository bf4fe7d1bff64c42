"""A single posting's opening reads, in ONE round trip: the institution with the token still live,
the idempotency key's claim and what staging reads first (:func:`.lookups.read_ahead`).

Sent one after another they cost four round trips (with the transaction's ``BEGIN``, which psycopg
sends on its own before a transaction's first statement, unless that statement is in a pipeline),
each a few hundred microseconds of the service's CPU. The statements are the same, in the same
order, in the same transaction, so their answers are too; what the posting does with them is
unchanged: a token revoked meanwhile is refused (the claim, made in the same pipeline, is undone
with the posting's transaction or savepoint), a key claimed before answers with its stored
response (the reads made beside it are dropped), and only then is the posting staged.

Not for a posting by identity number without a name: its "no learner with that number" answer is
given, and its look-up logged, before the key is claimed, so it keeps the step-by-step path.
"""

from dataclasses import dataclass

from sqlmodel import Session
from starlette.responses import JSONResponse

from creditbank.auth.service import Principal
from creditbank.db import pg_connection, prepared, translated_errors
from creditbank.errors import Unauthenticated
from creditbank.i18n import msg
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.ledger import idempotency
from creditbank.outcomes import idempotent, lookups
from creditbank.outcomes.schemas import OutcomeCreate


@dataclass
class Opened:
    """What :func:`open_posting` read: the institution, the stored response of a key claimed before
    (None: this request claimed it) and staging's first reads."""

    institution: Institution
    replayed: JSONResponse | None
    read: lookups.ReadAhead


def open_posting(
    session: Session,
    who: Principal,
    key: str | None,
    request_hash: str,
    also: list[str],
    item: OutcomeCreate,
) -> Opened | None:
    """The opening reads of a single posting by ``who`` (an institution's token) in one round trip, on
    PostgreSQL; None when the posting takes the step-by-step path (another database, a posting by
    identity number without a name, a missing or malformed key: refused after the token's check,
    as before). ``request_hash`` and ``also``: the request's idempotency fingerprints.

    Raises:
        Unauthenticated: the token was revoked since the request's guard read it.
        InstitutionNotFound: the token's institution is not there.
        IdempotencyKeyReused: the key was used for a different request.
    """
    driver = pg_connection(session)
    if driver is None or (item.identity_number and not item.learner_name) or not _valid(key):
        return None
    assert key is not None and who.subject is not None and who.token_id is not None
    scope = idempotent.scope_of(who)
    with (
        driver.cursor() as token,
        driver.cursor() as claim,
        lookups.ReadsAhead(driver, who.subject, [(1, item)]) as reads,
    ):
        with translated_errors(institutions.PG_INSTITUTION_FOR_TOKEN), prepared(driver), driver.pipeline():
            token.execute(institutions.PG_INSTITUTION_FOR_TOKEN, (who.subject, who.token_id))
            claim.execute(
                idempotency.PG_CLAIM, idempotency.claim_parameters(scope, key, request_hash), prepare=True
            )
            reads.send()
        with translated_errors(institutions.PG_INSTITUTION_FOR_TOKEN):
            found = token.fetchone()
        institution = institutions.institution_for_token(found, who.subject)
        if institution is None:
            raise Unauthenticated(msg("detail.auth.deps.token_unknown_revoked"))
        stored = idempotency.claimed(claim, scope, key, request_hash, also)
        return Opened(institution, idempotent.replay(stored), reads.answer(institution))


def _valid(key: str | None) -> bool:
    try:
        idempotency.check_key(key)
    except idempotency.IdempotencyKeyInvalid:
        return False
    return True
