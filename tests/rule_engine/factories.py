"""Small typed factories for rule engine tests: outcomes, lots, a tiny manifest and rule."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from creditbank.rule_engine import LotFacts, OutcomeFacts, ProgrammeFacts

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rules" / "beijing-pilot"
AS_OF = dt.date(2024, 6, 1)

#: ``write_set(rules_yaml, manifest=..., extra={"rel/path.yaml": text}, name=...)`` -> set folder
WriteSet = Callable[..., Path]

MANIFEST = """\
id: tiny
version: "1"
title: {zh: 测试规则集, en: Test rule set}
effective_from: 2020-01-01
source: {document: 测试办法}
defaults:
  validity: {years: 5, action: review}
  conversion_remainder: forfeit
"""

#: One valid recognition rule, to be formatted into a ``rules:`` list (indented by two spaces).
TRAIN_RULE = """\
- id: T-TRAIN
  version: 1
  kind: recognition
  title: {zh: 培训, en: Training}
  effective: {from: 2020-01-01}
  source: {document: 测试办法}
  applies_to: [training_course]
  condition: has_hours && hours >= 8.0
  credits: hours / double(credit_hours)
  max_credits: 4
  level: 3
  category: training
  explanation: {zh: "{hours} 学时 = {credits} 学分", en: "{hours} hours = {credits} credits"}
"""


def outcome(**fields: Any) -> OutcomeFacts:
    """An outcome with defaults: a 48-hour training course achieved on 2024-03-01."""
    base: dict[str, Any] = {
        "outcome_type": "training_course",
        "title": "培训课程",
        "achieved_on": dt.date(2024, 3, 1),
        "hours": 48,
        "issuer_kind": "training_body",
    }
    base.update(fields)
    return OutcomeFacts.model_validate(base)


def lot(lot_id: str, **fields: Any) -> LotFacts:
    """A lot with defaults: a 2-credit, level-3 training course lot."""
    base: dict[str, Any] = {
        "lot_id": lot_id,
        "outcome_type": "training_course",
        "title": f"课程 {lot_id}",
        "credits": 2,
        "level": 3,
    }
    base.update(fields)
    return LotFacts.model_validate(base)


def programme(**fields: Any) -> ProgrammeFacts:
    """A 120-credit programme."""
    base: dict[str, Any] = {"programme_id": "P1", "institution_id": "I1", "graduation_credits": 120}
    base.update(fields)
    return ProgrammeFacts.model_validate(base)
