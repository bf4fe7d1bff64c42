"""Pure conversion: credit lots -> a conversion plan for one programme, under caps and grade mappings.

See :func:`convert` for how it works.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from typing import Any

from creditbank.i18n import Both, Message, msg
from creditbank.rule_engine.amounts import ZERO, format_amount, to_half_steps
from creditbank.rule_engine.explain import fill
from creditbank.rule_engine.loader import Placed, RuleSet
from creditbank.rule_engine.models import (
    ConversionItem,
    ConversionPlan,
    LotFacts,
    LotId,
    PlanLine,
    ProgrammeFacts,
    RuleId,
    SkippedLot,
    SkipReason,
    Text,
)
from creditbank.rule_engine.schemas import (
    AllOf,
    AnyOf,
    CapRule,
    ConversionRule,
    GradeMapping,
    LotMatcher,
    MatchLot,
    NOf,
    SourceNode,
)


@dataclass(frozen=True, slots=True)
class EffectiveCaps:
    """The caps in force on a date: the most restrictive of every effective cap rule."""

    max_share: Decimal | None
    share_rule: CapRule | None
    max_certificates: int | None
    certificates_rule: CapRule | None
    certificate_types: frozenset[str]
    count_once_rule: CapRule | None


def effective_caps(rule_set: RuleSet, as_of: dt.date) -> EffectiveCaps:
    """Combine the cap rules effective on ``as_of`` (smallest share, fewest certificates)."""
    share: Decimal | None = None
    share_rule = None
    certs: int | None = None
    certs_rule = None
    types: set[str] = set()
    once_rule = None
    for placed in rule_set.caps:
        rule = placed.rule
        if not rule.effective.covers(as_of):
            continue
        caps = rule.caps
        if caps.max_share is not None and (share is None or caps.max_share < share):
            share, share_rule = caps.max_share, rule
        if caps.max_certificates is not None and (certs is None or caps.max_certificates < certs):
            certs, certs_rule = caps.max_certificates, rule
            types = set(caps.certificate_types)
        if caps.count_once and once_rule is None:
            once_rule = rule
    return EffectiveCaps(share, share_rule, certs, certs_rule, frozenset(types), once_rule)


def map_grade(mapping: GradeMapping, lot: LotFacts) -> str | None:
    """Destination grade of one lot: by its grade, else by its score band; an ungraded lot (no
    grade, no score: most certificates) gets the mapping's default. None: the rule cannot use it."""
    if lot.grade is not None:
        for entry in mapping.grades:
            if entry.source == lot.grade:
                return entry.destination
    if lot.score is not None:
        for band in mapping.score_bands:
            if lot.score >= band.min_score:
                return band.destination
    if lot.grade is None and lot.score is None:
        return mapping.default
    return None


def expired(expires_on: dt.date | None, day: dt.date) -> bool:
    """True when a lot's validity has ended on ``day``: it stays in the archive but cannot convert.

    ``expires_on`` is the day validity ends; from that day on no certificate can be issued for the
    lot (a certificate's ``validUntil`` is that day's start), so it is not offered for conversion."""
    return expires_on is not None and expires_on <= day


def lot_matches(matcher: LotMatcher, lot: LotFacts) -> bool:
    """True when ``lot`` meets every criterion of ``matcher``."""
    return (
        (matcher.outcome_type is None or lot.outcome_type in matcher.outcome_type)
        and (matcher.course_code is None or lot.course_code in matcher.course_code)
        and (matcher.field is None or lot.field in matcher.field)
        and (matcher.category is None or lot.category in matcher.category)
        and (matcher.outcome_level is None or lot.outcome_level in matcher.outcome_level)
        and (matcher.title_contains is None or matcher.title_contains in lot.title)
        and (matcher.min_level is None or lot.level >= matcher.min_level)
        and (matcher.min_credits is None or lot.credits >= matcher.min_credits)
    )


Accept = Callable[[LotMatcher, LotFacts], bool]


def solutions(
    node: SourceNode, lots: Sequence[LotFacts], used: frozenset[str], accept: Accept
) -> Iterator[tuple[LotFacts, ...]]:
    """Every way (lazily, preferred first) to satisfy ``node`` with distinct unused ``lots``.

    ``lot``: any single accepted lot, in input order; ``all_of``: every item, with disjoint lots
    (backtracking); ``any_of``: the first item that can be satisfied, in order; ``n_of``: ``n`` of
    the items, the earliest combinations first.
    """
    if isinstance(node, MatchLot):
        for lot in lots:
            if lot.lot_id not in used and accept(node.lot, lot):
                yield (lot,)
    elif isinstance(node, AllOf):
        yield from _all(node.all_of, lots, used, accept)
    elif isinstance(node, AnyOf):
        for item in node.any_of:
            yield from solutions(item, lots, used, accept)
    elif isinstance(node, NOf):
        for combo in combinations(node.n_of.items, node.n_of.n):
            yield from _all(combo, lots, used, accept)


def _all(
    items: Sequence[SourceNode], lots: Sequence[LotFacts], used: frozenset[str], accept: Accept
) -> Iterator[tuple[LotFacts, ...]]:
    if not items:
        yield ()
        return
    for first in solutions(items[0], lots, used, accept):
        taken = used | {lot.lot_id for lot in first}
        for rest in _all(items[1:], lots, taken, accept):
            yield first + rest


def _skip(lot: LotFacts, reason: SkipReason, rule: CapRule | None, why: Message) -> SkippedLot:
    return SkippedLot(
        lot_id=lot.lot_id,
        reason=reason,
        rule_id=RuleId(rule.id) if rule is not None else None,
        explanation=Text.of(why),
    )


def _applies_to(rule: ConversionRule, programme: ProgrammeFacts, as_of: dt.date) -> bool:
    return (
        rule.effective.covers(as_of)
        and (not rule.institutions or programme.institution_id in rule.institutions)
        and (not rule.programmes or programme.programme_id in rule.programmes)
    )


def convert(
    rule_set: RuleSet,
    lots: Sequence[LotFacts],
    programme: ProgrammeFacts,
    as_of: dt.date | None = None,
) -> ConversionPlan:
    """Plan the conversion of ``lots`` into ``programme`` under the equivalence rules and caps.

    Steps:

    1. Each lot at most once: a repeated lot id, a lot the ledger already shows converted, or a lot
       whose validity has ended (``expires_on`` on or before ``as_of``), is skipped.
    2. Counted once: of lots sharing a ``count_once_key`` (one competition), only the one with the
       most credits (then the earliest in the input) is kept.
    3. Conversion rules effective on ``as_of`` (default: today) and open to this institution and
       programme are applied in the set's order (priority, then file order), each up to
       ``max_applications`` times; a rule matches with the first solution of its ``requires`` tree
       over the unused lots whose grade it can map (lots are tried in input order: pass them in the
       order you prefer them used).
    4. Caps: the certificate count (``max_certificates``, less those already converted) and the share
       of graduation credits (``max_share`` x graduation credits, in half credits rounded down, less
       credits already converted). A course whose fixed credits do not fit is skipped; an elective
       bucket is cut to the room left (``capped``). A lot is never split between items: the
       credits of its lots beyond an item's credits are its ``remainder``, forfeited under the rule
       set's ``conversion_remainder`` policy, and said so in the explanation.
    5. Every lot not used is listed in ``skipped`` with its reason and, for caps, the cap rule;
       ``lines`` gives the whole plan lot by lot (:func:`plan_lines`).

    The caps count what ``programme`` says this learner already converted into this programme:
    caps are per learner, never per class.

    Pure: nothing is stored; the ledger enforces "converted once" when the plan is executed.
    Raises nothing for valid inputs.
    """
    as_of = as_of or dt.date.today()
    caps = effective_caps(rule_set, as_of)
    skipped: list[SkippedLot] = []

    # 1. each lot at most once
    seen: set[str] = set()
    available: list[LotFacts] = []
    for lot in lots:
        if lot.lot_id in seen:
            skipped.append(_skip(lot, "duplicate_lot", None, msg("skip.why.duplicate_lot")))
            continue
        seen.add(lot.lot_id)
        if expired(lot.expires_on, as_of) and not lot.already_converted:
            assert lot.expires_on is not None
            skipped.append(
                _skip(
                    lot,
                    "expired",
                    None,
                    msg("skip.why.expired", day=lot.expires_on.isoformat()),
                )
            )
            continue
        if lot.already_converted:
            skipped.append(
                _skip(
                    lot,
                    "already_converted",
                    None,
                    msg("skip.why.already_converted"),
                )
            )
            continue
        available.append(lot)

    # 2. counted once
    if caps.count_once_rule is not None:
        groups: dict[str, list[int]] = defaultdict(list)
        for index, lot in enumerate(available):
            if lot.count_once_key:
                groups[lot.count_once_key].append(index)
        dropped: set[int] = set()
        for key, indexes in groups.items():
            keep = max(indexes, key=lambda i: (available[i].credits, -i))
            for i in indexes:
                if i != keep:
                    dropped.add(i)
                    skipped.append(
                        _skip(
                            available[i],
                            "counted_once",
                            caps.count_once_rule,
                            msg("skip.why.counted_once", lot_id=available[keep].lot_id, key=key),
                        )
                    )
        available = [lot for i, lot in enumerate(available) if i not in dropped]

    # 3. limits
    limit = (
        to_half_steps(programme.graduation_credits * caps.max_share) if caps.max_share is not None else None
    )
    room = None if limit is None else limit - programme.already_converted_credits
    cert_room = (
        None
        if caps.max_certificates is None
        else max(0, caps.max_certificates - programme.already_converted_certificates)
    )

    # 4. rules
    used: set[str] = set()
    blocked_share: set[str] = set()
    blocked_certs: set[str] = set()
    items: list[ConversionItem] = []
    certificates_used = 0
    for placed in rule_set.conversion:
        rule = placed.rule
        if not _applies_to(rule, programme, as_of):
            continue
        applications = 0
        excluded: set[str] = set()
        while applications < rule.max_applications:
            accept = _acceptor(rule)
            candidates = [lot for lot in available if lot.lot_id not in used and lot.lot_id not in excluded]
            match = next(solutions(rule.requires, candidates, frozenset(), accept), None)
            if match is None:
                break
            certs = [lot for lot in match if lot.outcome_type in caps.certificate_types]
            if cert_room is not None and len(certs) > cert_room:
                ids = {lot.lot_id for lot in certs}
                excluded |= ids
                blocked_certs |= ids
                continue
            credits, capped = _item_credits(rule, match)
            if room is not None and credits > room:
                if rule.destination.kind == "elective_bucket" and room > 0:
                    credits, capped = to_half_steps(room), True
                if credits > room or credits <= 0:
                    blocked_share |= {lot.lot_id for lot in match}
                    break
            items.append(_item(placed, match, credits, capped))
            used |= {lot.lot_id for lot in match}
            if room is not None:
                room -= credits
            if cert_room is not None:
                cert_room -= len(certs)
            certificates_used += len(certs)
            applications += 1

    # 5. explain every lot not used
    for lot in available:
        if lot.lot_id in used:
            continue
        cap_full = cert_room == 0 and lot.outcome_type in caps.certificate_types
        if lot.lot_id in blocked_certs or cap_full:
            skipped.append(
                _skip(
                    lot,
                    "cap_certificates",
                    caps.certificates_rule,
                    msg(
                        "skip.why.cap_certificates",
                        maximum=caps.max_certificates,
                        before=programme.already_converted_certificates,
                    ),
                )
            )
        elif lot.lot_id in blocked_share:
            share = format_amount((caps.max_share or ZERO) * 100)
            skipped.append(
                _skip(
                    lot,
                    "cap_share",
                    caps.share_rule,
                    msg(
                        "skip.why.cap_share",
                        share=share,
                        limit=format_amount(limit or ZERO),
                        before=format_amount(programme.already_converted_credits),
                    ),
                )
            )
        else:
            skipped.append(
                _skip(
                    lot,
                    "no_equivalence",
                    None,
                    msg("skip.why.no_equivalence"),
                )
            )
    order = {lot.lot_id: i for i, lot in enumerate(lots)}
    skipped.sort(key=lambda s: order.get(s.lot_id, 0))
    remainder_policy = rule_set.manifest.defaults.conversion_remainder or "forfeit"
    return ConversionPlan(
        programme_id=programme.programme_id,
        items=tuple(items),
        skipped=tuple(skipped),
        lines=plan_lines(lots, items, skipped),
        total_credits=sum((item.credits for item in items), ZERO),
        lot_credits=sum((item.source_credits for item in items), ZERO),
        forfeited_credits=sum((item.remainder for item in items), ZERO),
        remainder_policy=remainder_policy,
        max_convertible_credits=limit,
        already_converted_credits=programme.already_converted_credits,
        certificates_used=certificates_used,
        rule_set_id=rule_set.id,
        rule_set_version=rule_set.version,
        rule_set_hash=rule_set.hash,
        as_of=as_of,
    )


def plan_lines(
    lots: Sequence[LotFacts], items: Sequence[ConversionItem], skipped: Sequence[SkippedLot]
) -> tuple[PlanLine, ...]:
    """The plan lot by lot, in the order the lots were given.

    An item's credits are allotted to its lots in order, each up to its own credits; what an item
    grants beyond its lots' credits goes to its last lot. A lot's credits not allotted are its
    remainder (forfeited under the rule set's remainder policy). So, summed over the lines,
    credits = the plan's total and lot credits = credits + remainder - any such excess.
    """
    by_lot: dict[str, tuple[ConversionItem, Decimal]] = {}
    for item in items:
        left = item.credits
        for n, lot_id in enumerate(item.lot_ids):
            lot_credits = next(lot.credits for lot in lots if lot.lot_id == lot_id)
            share = min(lot_credits, left)
            left -= share
            if n == len(item.lot_ids) - 1 and left > 0:
                share += left
            by_lot[lot_id] = (item, share)
    skips: dict[str, list[SkippedLot]] = defaultdict(list)
    for skip in skipped:
        skips[skip.lot_id].append(skip)
    lines: list[PlanLine] = []
    done: set[str] = set()
    for lot in lots:
        found = by_lot.get(lot.lot_id)
        if found is not None and lot.lot_id not in done:
            done.add(lot.lot_id)
            item, share = found
            lines.append(
                PlanLine(
                    lot_id=lot.lot_id,
                    title=lot.title,
                    outcome_type=lot.outcome_type,
                    lot_credits=lot.credits,
                    outcome="converted",
                    rule_id=item.rule_id,
                    destination_kind=item.destination_kind,
                    destination_code=item.destination_code,
                    destination_title=item.destination_title,
                    grade=item.grade,
                    credits=share,
                    remainder=max(ZERO, lot.credits - share),
                    explanation=item.explanation,
                )
            )
            continue
        if not skips[lot.lot_id]:
            continue
        skip = skips[lot.lot_id].pop(0)
        lines.append(
            PlanLine(
                lot_id=lot.lot_id,
                title=lot.title,
                outcome_type=lot.outcome_type,
                lot_credits=lot.credits,
                outcome="skipped",
                rule_id=skip.rule_id,
                credits=ZERO,
                remainder=ZERO,
                reason=skip.reason,
                explanation=skip.explanation,
            )
        )
    return tuple(lines)


def _acceptor(rule: ConversionRule) -> Accept:
    mapping = rule.grade_mapping
    if mapping is None:
        return lot_matches

    def accept(matcher: LotMatcher, lot: LotFacts) -> bool:
        return lot_matches(matcher, lot) and map_grade(mapping, lot) is not None

    return accept


def _item_credits(rule: ConversionRule, match: Sequence[LotFacts]) -> tuple[Decimal, bool]:
    destination = rule.destination
    if destination.credits is not None:
        return destination.credits, False
    total = sum((lot.credits for lot in match), ZERO)
    if destination.max_credits is not None and total > destination.max_credits:
        return to_half_steps(destination.max_credits), True
    return to_half_steps(total), False


def _item(
    placed: Placed[ConversionRule], match: Sequence[LotFacts], credits: Decimal, capped: bool
) -> ConversionItem:
    rule = placed.rule
    grade = None
    if rule.grade_mapping is not None:
        scale = rule.grade_mapping.scale
        grades = [map_grade(rule.grade_mapping, lot) for lot in match]
        grade = max((g for g in grades if g is not None), key=scale.index, default=None)
    titles_zh = "、".join(f"《{lot.title}》" for lot in match)
    titles_en = ", ".join(f"'{lot.title}'" for lot in match)
    amount = format_amount(credits)
    parts = [
        msg(
            "conversion.item",
            title=rule.title.both,
            rule_id=rule.id,
            version=rule.version,
            titles=Both(titles_zh, titles_en),
            destination=rule.destination.title.both,
            credits=amount,
        )
    ]
    if grade is not None:
        parts.append(msg("conversion.item_grade", grade=grade))
    if capped:
        parts.append(msg("conversion.item_capped"))
    if rule.explanation is not None:
        values: dict[str, Any] = {"credits": amount, "rule_id": rule.id, "rule_version": rule.version}
        why = Both(fill(rule.explanation.zh, values), fill(rule.explanation.en, values))
        parts.append(msg("conversion.item_explanation", explanation=why))
    source_credits = sum((lot.credits for lot in match), ZERO)
    remainder = max(ZERO, source_credits - credits)
    if remainder > 0:
        total, left = format_amount(source_credits), format_amount(remainder)
        parts.append(msg("conversion.item_remainder", total=total, left=left))
    zh = "".join(part.text("zh") for part in parts)
    en = "".join(part.text("en") for part in parts)
    return ConversionItem(
        rule_id=RuleId(rule.id),
        rule_version=rule.version,
        destination_kind=rule.destination.kind,
        destination_code=rule.destination.code,
        destination_title=rule.destination.title,
        lot_ids=tuple(LotId(lot.lot_id) for lot in match),
        credits=credits,
        grade=grade,
        capped=capped,
        explanation=Text(zh=zh, en=en),
        source_credits=source_credits,
        remainder=remainder,
    )
