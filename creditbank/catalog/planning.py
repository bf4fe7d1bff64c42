"""Conversion planning: which lots become which courses of a programme, for one learner.

How this works
--------------
:func:`plan_conversion` reads the lots and the facts of their outcomes from the ledger, adds the
destination institution's course equivalences to the rule set in force, and asks the rule engine
for a plan under the programme's caps. Caps are per learner (the Beijing measures cap what *one
learner* converts into a programme): :func:`converted_so_far` counts only that learner's live
conversions into that programme, the credits they counted towards it and the certificate lots
among their lots (only outcome types the caps name as certificates; a competition award is not a
certificate). A lot whose validity has ended is planned as ``expired``: it stays in the archive
and is never offered.

The same plan serves three readers: the learner before sending a transfer and the registrar
before accepting it (a preview, nothing stored), and, after acceptance, the archive, which shows
the plan stored with the conversion.
"""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import service as catalog
from creditbank.catalog.models import Conversion, Programme, TransferRequest
from creditbank.context import AppContext
from creditbank.errors import Forbidden, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.ledger.errors import LotNotFound
from creditbank.ledger.models import JournalTransaction, Lot, LotLock
from creditbank.outcomes.models import Outcome, Recognition
from creditbank.outcomes.rulesets import rule_book
from creditbank.rule_engine import LotFacts, ProgrammeFacts, RuleSet, convert
from creditbank.rule_engine.conversion import effective_caps
from creditbank.rule_engine.models import ConversionPlan


class TransferNotFound(NotFound):
    slug = "transfer-not-found"
    title = "No such transfer"


class MixedLearners(ValidationFailed):
    slug = "mixed-learners"
    title = "The lots belong to more than one learner"


def lot_facts(session: Session, lot_ids: Sequence[str]) -> tuple[list[Lot], list[LotFacts]]:
    """The lots, in the order given, and the facts the rules look at.

    Raises: LotNotFound.
    """
    lots = {lot.id: lot for lot in session.exec(select(Lot).where(col(Lot.id).in_(lot_ids))).all()}
    missing = [i for i in lot_ids if i not in lots]
    if missing:
        raise LotNotFound(msg("detail.catalog.planning.no_lot", value=missing[0]))
    outcome_ids = [lot.outcome_id for lot in lots.values() if lot.outcome_id]
    outcomes = {o.id: o for o in session.exec(select(Outcome).where(col(Outcome.id).in_(outcome_ids))).all()}
    recs = {
        r.outcome_id: r
        for r in session.exec(select(Recognition).where(col(Recognition.outcome_id).in_(outcome_ids))).all()
    }
    locked = set(session.exec(select(LotLock.lot_id).where(col(LotLock.lot_id).in_(lot_ids))).all())
    facts: list[LotFacts] = []
    for lot_id in lot_ids:
        lot = lots[lot_id]
        outcome = outcomes.get(lot.outcome_id or "")
        rec = recs.get(lot.outcome_id or "")
        facts.append(
            LotFacts(
                lot_id=lot.id,
                outcome_type=(outcome.outcome_type if outcome else "training_course"),
                title=outcome.title if outcome else lot.rule_id,
                credits=lot.credits,
                level=lot.level,
                outcome_level=outcome.level if outcome else None,
                category=lot.category,
                field=lot.field or (outcome.field if outcome else None),
                course_code=outcome.course_code if outcome else None,
                grade=outcome.grade if outcome else None,
                score=outcome.score if outcome else None,
                achieved_on=outcome.achieved_on if outcome else None,
                count_once_key=rec.count_once_key if rec else None,
                already_converted=lot.id in locked,
                expires_on=lot.expires_on,
            )
        )
    return [lots[i] for i in lot_ids], facts


def converted_so_far(
    session: Session, programme_id: str, learner_id: str, certificate_types: frozenset[str]
) -> tuple[Decimal, int]:
    """What this learner's live conversions into this programme already used of its caps: the
    credits they counted towards the programme, and their lots of a certificate type."""
    reversed_ids = select(JournalTransaction.reverses_id).where(
        col(JournalTransaction.reverses_id).is_not(None)
    )
    counted = session.exec(
        select(col(Conversion.credits)).where(
            col(Conversion.programme_id) == programme_id,
            col(Conversion.learner_id) == learner_id,
            col(Conversion.ledger_tx_id).not_in(reversed_ids),
        )
    ).all()
    certificates = 0
    if certificate_types:
        certificates = len(
            session.exec(
                select(LotLock.lot_id)
                .join(Lot, col(Lot.id) == col(LotLock.lot_id))
                .join(Outcome, col(Outcome.id) == col(Lot.outcome_id))
                .where(
                    col(LotLock.programme_id) == programme_id,
                    col(Lot.learner_id) == learner_id,
                    col(Outcome.outcome_type).in_(sorted(certificate_types)),
                )
            ).all()
        )
    return sum((Decimal(c) for c in counted), Decimal(0)), certificates


def rule_set_for(
    session: Session, ctx: AppContext, institution_id: str, today: dt.date, *, only: str | None = None
) -> RuleSet:
    """The rule set in force plus the destination's own course equivalences (or only the one
    named by ``only``, see :func:`creditbank.catalog.service.with_equivalences`)."""
    return catalog.with_equivalences(
        session, rule_book(ctx.settings.rules_dir).in_force(today), institution_id, only=only
    )


def plan_conversion(
    session: Session,
    ctx: AppContext,
    programme: Programme,
    lot_ids: Sequence[str],
    today: dt.date,
    *,
    only_equivalence: str | None = None,
) -> tuple[list[Lot], ConversionPlan]:
    """Plan the conversion of one learner's lots into ``programme`` (nothing is stored); with
    ``only_equivalence``, by that one equivalence of the programme's institution.

    Raises: LotNotFound, MixedLearners.
    """
    lots, facts = lot_facts(session, lot_ids)
    learners = {lot.learner_id for lot in lots}
    if len(learners) > 1:
        raise MixedLearners(msg("detail.catalog.planning.conversion_one_learner_lots"))
    rule_set = rule_set_for(session, ctx, programme.institution_id, today, only=only_equivalence)
    credits, certificates = Decimal(0), 0
    if learners:
        caps = effective_caps(rule_set, today)
        credits, certificates = converted_so_far(
            session, programme.id, next(iter(learners)), caps.certificate_types
        )
    facts_programme = ProgrammeFacts(
        programme_id=programme.id,
        institution_id=programme.institution_id,
        title=programme.title_zh,
        graduation_credits=programme.graduation_credits,
        already_converted_credits=credits,
        already_converted_certificates=certificates,
    )
    return lots, convert(rule_set, facts, facts_programme, as_of=today)


# -- previews: the plan before sending, and before accepting --------------------------------------


def preview_request(
    session: Session,
    who: Principal,
    ctx: AppContext,
    *,
    learner_id: str,
    lot_ids: Sequence[str],
    programme_id: str,
    destination_institution_id: str,
    today: dt.date | None = None,
) -> tuple[Programme, ConversionPlan]:
    """What a transfer of these lots into this programme would convert, before it is sent.

    A learner previews their own lots; an institution only lots it issued. Nothing is stored.

    Raises: Forbidden, LotNotFound, ProgrammeNotFound.
    """
    if who.role is Role.learner and who.subject != learner_id:
        raise Forbidden(msg("detail.catalog.planning.learner_may_preview_only"))
    programme = catalog.get_programme(session, programme_id)
    if programme.institution_id != destination_institution_id:
        raise catalog.ProgrammeNotFound(
            msg(
                "detail.catalog.planning.no_programme",
                programme_id=programme_id,
                destination_institution_id=destination_institution_id,
            )
        )
    wanted = list(dict.fromkeys(lot_ids))
    lots = session.exec(select(Lot).where(col(Lot.id).in_(wanted))).all()
    if len(lots) != len(wanted) or any(lot.learner_id != learner_id for lot in lots):
        raise LotNotFound(msg("detail.catalog.planning.every_lot_must_exist"))
    if who.role is Role.institution and any(lot.issuer_id != who.subject for lot in lots):
        raise Forbidden(msg("detail.catalog.planning.institution_may_preview_only"))
    _, plan = plan_conversion(session, ctx, programme, list(lot_ids), today or dt.date.today())
    return programme, plan


def preview_transfer(
    session: Session, ctx: AppContext, who: Principal, transfer_id: str, today: dt.date | None = None
) -> tuple[Programme, ConversionPlan]:
    """What accepting this transfer would convert now: for its learner and its destination.

    Raises: TransferNotFound (to anyone else, so ids cannot be probed).
    """
    transfer = session.get(TransferRequest, transfer_id)
    allowed = transfer is not None and (
        who.role is Role.admin
        or (who.role is Role.learner and who.subject == transfer.learner_id)
        or (who.role is Role.institution and who.subject == transfer.destination_institution_id)
    )
    if transfer is None or not allowed:
        raise TransferNotFound(msg("detail.catalog.planning.no_transfer", transfer_id=transfer_id))
    programme = catalog.get_programme(session, transfer.programme_id)
    _, plan = plan_conversion(session, ctx, programme, transfer.lot_ids, today or dt.date.today())
    return programme, plan
