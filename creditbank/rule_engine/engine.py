"""Pure evaluation: outcome -> recognition.

How this works
--------------
**evaluate** (one outcome, one date):

1. An outcome dated after ``as_of`` is rejected (it cannot have been achieved yet).
2. The candidate rules are the recognition rules for the outcome's type, in the set's order:
   higher ``priority`` first, then file order (files sorted by path, rules by position). Only rules
   whose ``effective`` dates cover ``as_of`` are tried, so a new version of a rule applies from its
   ``effective.from`` and an evaluation made earlier keeps citing the version it used.
3. The first candidate whose condition is true decides (write more specific rules first, or give
   them a higher priority). If none matches, the outcome is rejected with "no rule applies".
4. ``decision: reject`` rules reject with their explanation. Otherwise the credit formula gives the
   raw credits; the per-rule ``max_credits`` caps them and they are rounded to half-credit steps in
   ``Decimal`` (see :mod:`creditbank.rule_engine.amounts`). The level (1..7), field and count-once
   key come from their expressions.
5. Validity: an outcome older than ``validity.years`` at ``as_of`` goes to review (or is rejected,
   per ``validity.action``); ``expires_on`` is the last day it is within validity.
6. Review: ``always``, or ``when`` its condition holds, sends the outcome to review with the rule's
   reason and stages (district, then city). Credits of a review are the *proposed* credits.
7. A CEL evaluation error (a missing map key, a level outside 1..7, negative credits) does not
   crash a bulk import: the outcome goes to review, citing the rule and the error.

**convert** (lots for one programme) is in :mod:`creditbank.rule_engine.conversion`; **diff** (the same
outcomes under two rule sets) in :mod:`creditbank.rule_engine.diff`.
"""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from creditbank.i18n import Both, msg
from creditbank.rule_engine import cel_env, unmet
from creditbank.rule_engine.amounts import ZERO, format_amount, to_decimal, to_half_steps
from creditbank.rule_engine.explain import fill
from creditbank.rule_engine.loader import CompiledRecognition, RuleSet
from creditbank.rule_engine.models import (
    OUTCOME_TYPE_LABELS,
    OutcomeFacts,
    Recognition,
    ReviewStage,
    RuleId,
    Status,
    Text,
)

# -- evaluate ------------------------------------------------------------------------------------


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` plus ``years`` (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _join(parts: Iterable[Text]) -> Text | None:
    items = list(parts)
    if not items:
        return None
    return Text(zh="；".join(t.zh for t in items), en="; ".join(t.en for t in items))


def _join_both(parts: Iterable[Text]) -> Both:
    """Texts joined as a list in each language (``；`` in Chinese, ``; `` in English)."""
    items = list(parts)
    return Both("；".join(t.zh for t in items), "; ".join(t.en for t in items))


def _template_values(
    outcome: OutcomeFacts, as_of: dt.date, rule_set: RuleSet, compiled: CompiledRecognition
) -> dict[str, object]:
    rule = compiled.rule
    zh_label, en_label = OUTCOME_TYPE_LABELS[outcome.outcome_type]
    return {
        "title": outcome.title,
        "outcome_type": outcome.outcome_type,
        "outcome_type_label": zh_label,
        "outcome_type_label_en": en_label,
        "achieved_on": outcome.achieved_on.isoformat(),
        "as_of": as_of.isoformat(),
        "age_years": cel_env.full_years(outcome.achieved_on, as_of),
        "hours": format_amount(outcome.hours) if outcome.hours is not None else "—",
        "level": outcome.level or "—",
        "score": format_amount(outcome.score) if outcome.score is not None else "—",
        "grade": outcome.grade or "—",
        "field": outcome.field or "—",
        "issuer_kind": outcome.issuer_kind,
        "award_tier": cel_env.award_tier(outcome) or "—",
        "attributes": outcome.attributes,
        "credit_hours": rule_set.credit_hours,
        "max_credits": format_amount(rule.max_credits) if rule.max_credits is not None else "—",
        "category": rule.category,
        "validity_years": compiled.validity.years if compiled.validity else "—",
        "rule_id": rule.id,
        "rule_version": rule.version,
    }


def _result(
    rule_set: RuleSet,
    outcome: OutcomeFacts,
    as_of: dt.date,
    *,
    status: Status,
    explanation: Text,
    compiled: CompiledRecognition | None = None,
    credits: Decimal = ZERO,
    raw_credits: Decimal = ZERO,
    level: int | None = None,
    category: str | None = None,
    field: str | None = None,
    review_reason: Text | None = None,
    review_stages: tuple[ReviewStage, ...] = (),
    expires_on: dt.date | None = None,
    count_once_key: str | None = None,
) -> Recognition:
    rule = compiled.rule if compiled is not None else None
    return Recognition(
        outcome_id=outcome.outcome_id,
        status=status,
        credits=credits,
        raw_credits=raw_credits,
        level=level,
        category=category,
        field=field,
        rule_id=RuleId(rule.id) if rule is not None else None,
        rule_version=rule.version if rule is not None else None,
        rule_set_id=rule_set.id,
        rule_set_version=rule_set.version,
        rule_set_hash=rule_set.hash,
        needs_review=status == "review",
        review_reason=review_reason,
        review_stages=review_stages if status == "review" else (),
        explanation=explanation,
        expires_on=expires_on,
        count_once_key=count_once_key,
        as_of=as_of,
    )


def evaluate(rule_set: RuleSet, outcome: OutcomeFacts, as_of: dt.date) -> Recognition:
    """Recognise ``outcome`` under ``rule_set`` as on ``as_of`` (steps in the module docstring).

    Pure and deterministic: the same set, outcome and date give the same recognition. Raises nothing
    for valid inputs; a rule that fails on this outcome sends it to review, citing the rule.
    """
    if outcome.achieved_on > as_of:
        return _result(
            rule_set,
            outcome,
            as_of,
            status="rejected",
            explanation=Text.of(msg("rule.future_outcome", achieved_on=outcome.achieved_on, as_of=as_of)),
        )
    bindings = cel_env.bind(rule_set.env, outcome, as_of, rule_set.credit_hours)
    tried: list[CompiledRecognition] = []
    for compiled in rule_set.recognition_by_type.get(outcome.outcome_type, ()):
        if not compiled.rule.effective.covers(as_of):
            continue
        tried.append(compiled)
        try:
            matched = cel_env.run(compiled.condition, bindings)
        except cel_env.CelEvalError as exc:
            return _evaluation_error(rule_set, outcome, as_of, compiled, f"condition: {exc}")
        if matched is True:
            try:
                decided = _decide(rule_set, compiled, outcome, as_of, bindings)
            except cel_env.CelEvalError as exc:
                return _evaluation_error(rule_set, outcome, as_of, compiled, str(exc))
            if compiled.rule.decision == "reject":  # a fallback: say what the rules before it missed
                return _with_unmet(decided, tried[:-1], outcome, bindings)
            return decided
    zh_label, en_label = OUTCOME_TYPE_LABELS[outcome.outcome_type]
    unmet_parts = [(c, why) for c in tried if (why := first_unmet(c, outcome, bindings)) is not None]
    if unmet_parts:
        parts = [msg("rule.unmet_part", heading=c.heading.both, why=why.text.both) for c, why in unmet_parts]
        return _result(
            rule_set,
            outcome,
            as_of,
            status="rejected",
            explanation=Text.of(msg("rule.not_recognised", unmet=_join_both(Text.of(p) for p in parts))),
        )
    return _result(
        rule_set,
        outcome,
        as_of,
        status="rejected",
        explanation=Text.of(
            msg(
                "rule.no_rule",
                set_id=rule_set.id,
                version=rule_set.version,
                as_of=as_of,
                label=Both(zh_label, en_label),
            )
        ),
    )


def _with_unmet(
    result: Recognition, tried: list[CompiledRecognition], outcome: OutcomeFacts, bindings: cel_env.Bindings
) -> Recognition:
    found = [why for c in tried if (why := first_unmet(c, outcome, bindings)) is not None]
    if not found:
        return result
    explanation = Text.of(
        msg(
            "rule.with_unmet",
            explanation=result.explanation.both,
            unmet=_join_both(why.text for why in found),
        )
    )
    return result.model_copy(update={"explanation": explanation})


def first_unmet(
    compiled: CompiledRecognition, outcome: OutcomeFacts, bindings: cel_env.Bindings
) -> unmet.Unmet | None:
    """The first part of the rule's condition that ``outcome`` does not meet (None when the
    condition cannot be taken apart, or a part fails to evaluate)."""
    for text, expr in compiled.parts:
        try:
            if cel_env.run(expr, bindings) is not True:
                return unmet.describe(text, outcome)
        except cel_env.CelEvalError:
            return None
    return None


def _evaluation_error(
    rule_set: RuleSet, outcome: OutcomeFacts, as_of: dt.date, compiled: CompiledRecognition, message: str
) -> Recognition:
    rule = compiled.rule
    reason = Text.of(msg("rule.evaluation_error", rule_id=rule.id, version=rule.version, error=message))
    return _result(
        rule_set,
        outcome,
        as_of,
        status="review",
        compiled=compiled,
        explanation=reason,
        review_reason=reason,
        review_stages=compiled.review_stages,
    )


def _decide(
    rule_set: RuleSet,
    compiled: CompiledRecognition,
    outcome: OutcomeFacts,
    as_of: dt.date,
    bindings: cel_env.Bindings,
) -> Recognition:
    rule = compiled.rule
    heading = compiled.heading
    values = _template_values(outcome, as_of, rule_set, compiled)

    if rule.decision == "reject":
        why = Text(zh=fill(rule.explanation.zh, values), en=fill(rule.explanation.en, values))
        return _result(
            rule_set,
            outcome,
            as_of,
            status="rejected",
            compiled=compiled,
            explanation=Text.of(msg("rule.headed", heading=heading.both, why=why.both)),
        )

    # 1. credits: formula -> Decimal -> per-rule maximum -> half-credit steps
    try:
        raw = to_decimal(cel_env.run(compiled.credits, bindings))
    except ValueError as exc:
        raise cel_env.CelEvalError(f"credits: {exc}") from None
    if raw < 0:
        raise cel_env.CelEvalError(f"credits: the formula gave {format_amount(raw)} (negative)")
    notes: list[Text] = []
    capped = raw
    if rule.max_credits is not None and raw > rule.max_credits:
        capped = rule.max_credits
        notes.append(Text.of(msg("rule.capped", maximum=format_amount(rule.max_credits))))
    credits = to_half_steps(capped, rule.rounding)

    # 2. level, field, count-once key
    level = cel_env.run(compiled.level, bindings) if compiled.level is not None else None
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 7:
        raise cel_env.CelEvalError(f"level: {level!r} is not a framework level 1-7")
    field = str(cel_env.run(compiled.field, bindings)) or None
    key = str(cel_env.run(compiled.count_once_key, bindings)) if compiled.count_once_key is not None else None

    values.update(raw_credits=format_amount(raw), credits=format_amount(credits), framework_level=level)
    why = Text(zh=fill(rule.explanation.zh, values), en=fill(rule.explanation.en, values))

    # 3. validity and review
    status: Status = "recognised"
    reasons: list[Text] = []
    expires_on = None
    if compiled.validity is not None:
        expires_on = add_years(outcome.achieved_on, compiled.validity.years)
        if as_of > expires_on:
            years = compiled.validity.years
            if compiled.validity.action == "reject":
                status = "rejected"
                notes.append(
                    Text.of(
                        msg(
                            "rule.expired_rejected",
                            achieved_on=outcome.achieved_on,
                            years=years,
                            expires_on=expires_on,
                        )
                    )
                )
                credits = ZERO
            else:
                status = "review"
                reasons.append(
                    Text.of(
                        msg(
                            "rule.expired_review",
                            achieved_on=outcome.achieved_on,
                            years=years,
                            expires_on=expires_on,
                        )
                    )
                )
    if status != "rejected" and rule.review.mode != "never":
        wanted = rule.review.mode == "always"
        if compiled.review_condition is not None:
            wanted = cel_env.run(compiled.review_condition, bindings) is True
        if wanted and rule.review.reason is not None:
            status = "review"
            reasons.append(rule.review.reason)
    review_reason = _join(reasons) if status == "review" else None
    tail = _join([*notes, *reasons])
    explanation = Text.of(
        msg("rule.headed_with_notes", heading=heading.both, why=why.both, notes=tail.both)
        if tail
        else msg("rule.headed", heading=heading.both, why=why.both)
    )
    return _result(
        rule_set,
        outcome,
        as_of,
        status=status,
        compiled=compiled,
        credits=credits,
        raw_credits=raw,
        level=level,
        category=rule.category,
        field=field,
        review_reason=review_reason,
        review_stages=compiled.review_stages,
        expires_on=expires_on,
        count_once_key=key,
        explanation=explanation,
    )


# -- diff ----------------------------------------------------------------------------------------
