"""What posting reads before it writes (:func:`creditbank.outcomes.service.stage_rows`): the references
an institution posted already, the rows' learners and the institution's accreditation scope; on
PostgreSQL as prepared statements with array parameters, and all three in one round trip
(:func:`read_ahead`)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from creditbank.accreditation import service as accreditation
from creditbank.db import pg_connection, translated_errors
from creditbank.institutions.models import Institution
from creditbank.learners.models import Learner
from creditbank.outcomes.models import Outcome
from creditbank.outcomes.schemas import OutcomeCreate

if TYPE_CHECKING:
    import psycopg

# One descent of the (institution, reference) unique index per reference, whatever the statistics:
# the LATERAL subquery with LIMIT is not flattened into a join, and its two equalities match the
# unique index exactly. (A join with unnest(), or reference = ANY(...), let the planner, misled by
# statistics older than the institution's uploads, read ALL of the institution's outcomes for
# every chunk: 17-38 ms per 1,000 rows at 60,000 outcomes, and growing with every upload.)
_PG_POSTED_REFERENCES = (
    "SELECT r.reference, o.id, o.request_hash FROM unnest(%s::text[]) AS r(reference) "
    "CROSS JOIN LATERAL (SELECT id, request_hash FROM outcomes "
    "WHERE institution_id = %s AND reference = r.reference LIMIT 1) AS o"
)


def posted_references(session: Session, institution_id: str, refs: list[str]) -> dict[str, tuple[str, str]]:
    """Reference -> (outcome id, content hash) of those already posted by the institution.

    On PostgreSQL one prepared statement with the references as an array, looked up through the
    (institution, reference) unique index whatever the batch size and the statistics.
    """
    driver = pg_connection(session)
    if driver is None:
        stmt = select(Outcome.reference, Outcome.id, Outcome.request_hash).where(
            col(Outcome.institution_id) == institution_id, col(Outcome.reference).in_(refs)
        )
        return {ref: (oid, digest) for ref, oid, digest in session.exec(stmt).all()}
    with translated_errors(_PG_POSTED_REFERENCES), driver.cursor() as cursor:
        cursor.execute(_PG_POSTED_REFERENCES, (refs, institution_id))
        return {ref: (oid, digest) for ref, oid, digest in cursor.fetchall()}


_PG_LEARNERS = "SELECT id, erased_at IS NOT NULL FROM learners WHERE id = ANY(%s::text[])"


def learners_erased(session: Session, ids: list[str]) -> dict[str, bool]:
    """Learner id -> erased?, for the ids that exist."""
    driver = pg_connection(session)
    if driver is None:
        stmt = select(Learner.id, Learner.erased_at).where(col(Learner.id).in_(ids))
        return {lid: erased is not None for lid, erased in session.exec(stmt).all()}
    with translated_errors(_PG_LEARNERS), driver.cursor() as cursor:
        cursor.execute(_PG_LEARNERS, (ids,))
        return {lid: bool(erased) for lid, erased in cursor.fetchall()}


@dataclass
class ReadAhead:
    """What staging reads before it writes (:func:`read_ahead`)."""

    posted: dict[str, tuple[str, str]]  # as :func:`posted_references`
    scope: accreditation.Scope
    learners: dict[str, bool]  # as :func:`learners_erased`, for every row's learner id


def read_ahead(
    session: Session, institution: Institution, rows: Sequence[tuple[int, OutcomeCreate]]
) -> ReadAhead | None:
    """On PostgreSQL, the rows' references already posted, the institution's accreditation scope and
    the rows' learners, in ONE round trip (a pipeline; three otherwise, each a statement's worth of
    client CPU). None elsewhere (each is then read when needed)."""
    driver = pg_connection(session)
    if driver is None:
        return None
    with ReadsAhead(driver, institution.id, rows) as reads:
        with translated_errors(_PG_POSTED_REFERENCES), driver.pipeline():
            reads.send()
        return reads.answer(institution)


class ReadsAhead:
    """:func:`read_ahead`'s statements on ``driver``'s cursors (closed on leaving the ``with``), for a
    caller that sends them (:meth:`send`) in a pipeline of its own with other statements, and then
    reads their answer (:meth:`answer`, once the pipeline has ended)."""

    def __init__(
        self,
        driver: "psycopg.Connection[Any]",
        institution_id: str,
        rows: Sequence[tuple[int, OutcomeCreate]],
    ) -> None:
        self.institution_id = institution_id
        self.refs = [item.reference for _, item in rows]
        self.by_id = sorted({item.learner_id for _, item in rows if item.learner_id})
        self.cursors = (driver.cursor(), driver.cursor(), driver.cursor())

    def __enter__(self) -> "ReadsAhead":
        return self

    def __exit__(self, *_: object) -> None:
        for cursor in self.cursors:
            cursor.close()

    def send(self) -> None:
        posted, lines, learners_read = self.cursors
        posted.execute(_PG_POSTED_REFERENCES, (self.refs, self.institution_id))
        lines.execute(accreditation.PG_SCOPE_LINES, (self.institution_id,))
        if self.by_id:
            learners_read.execute(_PG_LEARNERS, (self.by_id,))

    def answer(self, institution: Institution) -> ReadAhead:
        posted, lines, learners_read = self.cursors
        with translated_errors(_PG_POSTED_REFERENCES):
            return ReadAhead(
                {ref: (oid, digest) for ref, oid, digest in posted.fetchall()},
                accreditation.scope_from_lines(institution, lines.fetchall()),
                {lid: bool(erased) for lid, erased in learners_read.fetchall()} if self.by_id else {},
            )
