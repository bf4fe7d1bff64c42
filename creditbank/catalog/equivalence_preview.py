"""What a course equivalence would convert, tried before it is saved.

A registrar drafting an equivalence sees which lots it would take and which it leaves, on a fixed
sample: the demo world's outcomes (``creditbank/demo_data/outcomes.yaml``, the same facts
``make run`` posts: training, 1+X and skill certificates, MOOCs, self-study exams, competitions,
work experience ...). Each is recognised by the rule set in force, as if posted by its demo
institution; the recognised ones become sample lots, and the rule engine plans their conversion with
the draft as the only conversion rule, into a programme of the registrar's institution with room for
every lot. Nothing is read from or written to the database: no learner's data is involved.
"""

import dataclasses
import datetime as dt
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml

from creditbank.catalog import service as catalog
from creditbank.catalog.schemas import EquivalenceCreate
from creditbank.rule_engine import LotFacts, OutcomeFacts, ProgrammeFacts, RuleSet, convert, evaluate
from creditbank.rule_engine.loader import Placed
from creditbank.rule_engine.models import ConversionPlan, LotId

SAMPLE_GRADUATION_CREDITS = Decimal(1000)
"""The sample programme's size: large enough that no share cap leaves a lot out."""


@cache
def _demo(name: str) -> Any:
    return yaml.safe_load(resources.files("creditbank").joinpath("demo_data", name).read_text("utf-8"))


def sample_outcomes() -> list[OutcomeFacts]:
    """The demo world's outcomes, as the rules see them (their posting institution's kind included)."""
    kinds = {spec["key"]: spec["kind"] for spec in _demo("institutions.yaml")}
    found: list[OutcomeFacts] = []
    for number, spec in enumerate(_demo("outcomes.yaml")["outcomes"], start=1):
        attributes = dict(spec.get("attributes") or {})
        if spec.get("course_code"):
            attributes["course_code"] = str(spec["course_code"])
        found.append(
            OutcomeFacts(
                outcome_id=f"demo-{number}",
                outcome_type=spec["outcome_type"],
                title=spec["title"],
                achieved_on=spec["achieved_on"],
                hours=spec.get("hours"),
                level=None if spec.get("level") is None else str(spec["level"]),
                score=spec.get("score"),
                grade=spec.get("grade"),
                identity_verified=bool(spec.get("identity_verified", False)),
                issuer_kind=kinds.get(spec["by"], "university"),
                field=spec.get("field"),
                attributes=attributes,
            )
        )
    return found


def sample_lots(rule_set: RuleSet, today: dt.date) -> list[LotFacts]:
    """The sample outcomes the rule set recognises with credits, as lots (in the demo's order)."""
    lots: list[LotFacts] = []
    for facts in sample_outcomes():
        result = evaluate(rule_set, facts, today)
        if result.status != "recognised" or result.credits <= 0 or result.level is None:
            continue
        lots.append(
            LotFacts(
                lot_id=LotId(facts.outcome_id or ""),
                outcome_type=facts.outcome_type,
                title=facts.title,
                credits=result.credits,
                level=result.level,
                outcome_level=facts.level,
                category=result.category,
                field=result.field,
                course_code=str(facts.attributes.get("course_code") or "") or None,
                grade=facts.grade,
                score=facts.score,
                achieved_on=facts.achieved_on,
                count_once_key=result.count_once_key,
                expires_on=result.expires_on,
            )
        )
    return lots


def preview(
    rule_set: RuleSet, institution_id: str, body: EquivalenceCreate, today: dt.date
) -> ConversionPlan:
    """Plan the sample lots with the draft equivalence as the only conversion rule.

    Raises:
        EquivalenceInvalid: the draft does not pass the rule engine's schemas.
    """
    rule = catalog.draft_rule(institution_id, body)
    alone = dataclasses.replace(rule_set, conversion=(Placed(rule=rule, file="draft", line=1, order=0),))
    programme = ProgrammeFacts(
        programme_id="sample",
        institution_id=institution_id,
        title="",
        graduation_credits=SAMPLE_GRADUATION_CREDITS,
    )
    return convert(alone, sample_lots(rule_set, today), programme, as_of=today)
