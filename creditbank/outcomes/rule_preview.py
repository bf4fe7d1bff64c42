"""Previewing a rule change against the outcomes already in the database.

``creditbank rules diff OLD NEW --outcomes FILE.jsonl`` compares two rule sets on outcome facts from
a file. :func:`preview` does the same for the outcomes the bank holds: it reads them in chunks
(constant memory), builds the facts the rules see exactly as posting does
(:func:`creditbank.outcomes.records.outcome_facts`) and lists those the NEW set would credit
differently. Nothing is written: a new rule-set version applies only from its effective date and
never rewrites what earlier versions recognised; the preview shows who would be affected by
recognising them again, e.g. before a correction campaign.

:func:`creditbank.outcomes.cli.diff_from_db` is the command-line form (``creditbank rules diff-db OLD NEW``).
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlmodel import Session, col, select

from creditbank.i18n import Message, msg
from creditbank.institutions.models import Institution
from creditbank.outcomes import records
from creditbank.outcomes.models import Outcome, Recognition, RecognitionStatus
from creditbank.rule_engine import Difference, RuleSet, diff
from creditbank.rule_engine.diff import said, status_said

CHUNK = 1000
FINAL = (RecognitionStatus.revoked.value, RecognitionStatus.superseded.value)


@dataclass(frozen=True)
class Affected:
    """One stored outcome that the new rule set would credit differently."""

    outcome_id: str
    institution_id: str
    reference: str
    status: str
    difference: Difference


@dataclass
class Preview:
    compared: int
    affected: list[Affected]


def _rows(
    session: Session, institution_id: str | None, include_final: bool
) -> Iterator[tuple[Outcome, str, str]]:
    stmt = (
        select(Outcome, Recognition.status, Institution.kind)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .order_by(col(Outcome.created_at), col(Outcome.id))
        .execution_options(yield_per=CHUNK)
    )
    if institution_id is not None:
        stmt = stmt.where(col(Outcome.institution_id) == institution_id)
    if not include_final:
        stmt = stmt.where(col(Recognition.status).not_in(FINAL))
    for outcome, status, kind in session.exec(stmt):
        yield outcome, str(status), str(kind)


def preview(
    session: Session,
    old: RuleSet,
    new: RuleSet,
    as_of: dt.date,
    *,
    institution_id: str | None = None,
    include_final: bool = False,
) -> Preview:
    """The stored outcomes (all, or one institution's; revoked and superseded ones only with
    ``include_final``) that ``new`` would credit differently from ``old`` on ``as_of``. Pure reading."""
    found: list[Affected] = []
    compared = 0
    chunk: list[tuple[Outcome, str, str]] = []

    def flush() -> None:
        facts = [records.outcome_facts(outcome, kind) for outcome, _, kind in chunk]
        for difference in diff(old, new, facts, as_of):
            outcome, status, _ = chunk[difference.index]
            found.append(
                Affected(
                    outcome_id=outcome.id,
                    institution_id=outcome.institution_id,
                    reference=outcome.reference,
                    status=status,
                    difference=difference,
                )
            )
        chunk.clear()

    for row in _rows(session, institution_id, include_final):
        chunk.append(row)
        compared += 1
        if len(chunk) >= CHUNK:
            flush()
    if chunk:
        flush()
    return Preview(compared=compared, affected=found)


def describe(item: Affected) -> Message:
    """One affected outcome, said in the reader's language."""
    return msg(
        "cli.outcomes.preview_line",
        outcome=item.outcome_id,
        institution=item.institution_id,
        reference=item.reference,
        status=status_said(item.status),
        change=said(item.difference),
    )
