"""The CEL environment of recognition rules: declared, typed variables and compilation.

How this works
--------------
``cel-expr-python`` (Google's C++ CEL runtime) type-checks an expression against the variables
declared in ``cel.NewEnv(variables={name: cel.Type})``. Every expression of a rule is compiled
*once*, when the rule set is loaded; a syntax error, an undeclared name, a wrong operand type
(``score >= 60`` where ``score`` is a ``double`` -- write ``60.0``) or a wrong result type is a
finding at load time, never a surprise at evaluation. Evaluation builds one ``Activation`` per
outcome and runs the precompiled programs against it.

Variables (all always present, so rules never meet a missing name):

=====================  ============  ===================================================
name                   CEL type      value
=====================  ============  ===================================================
``outcome_type``       string        one of the outcome types
``title``              string        title as issued
``achieved_on``        timestamp     date achieved (midnight UTC)
``as_of``              timestamp     evaluation date (midnight UTC)
``age_days``           int           days from ``achieved_on`` to ``as_of``
``age_years``          int           full years from ``achieved_on`` to ``as_of``
``hours``              double        study hours, 0.0 when unknown (see ``has_hours``)
``has_hours``          bool          hours were given
``level``              string        level as issued (初级, 三级, national, ...), "" when none
``score``              double        numeric score, 0.0 when unknown (see ``has_score``)
``has_score``          bool          a score was given
``grade``              string        grade as issued, "" when none
``identity_verified``  bool          learner identity verified at assessment
``issuer_kind``        string        kind of issuing institution
``field``              string        field of study or trade, "" when none
``attributes``         map(string,   free further facts (use ``has(attributes.x)`` or
                       dyn)          ``'x' in attributes``, and ``double()``/``int()``)
``award_tier``         string        a competition award's tier, 一等奖/二等奖/三等奖: the
                                     ``award_tier`` attribute (also 1/2/3, first/second/
                                     third), else the tier the title names; "" when none
``credit_hours``       int           the set's study hours per credit (16)
=====================  ============  ===================================================

The ``math`` (``math.least``, ``math.floor``, ...) and ``strings`` extensions are enabled.
"""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_math, ext_strings

from creditbank.rule_engine.amounts import to_cel_double
from creditbank.rule_engine.models import AWARD_TIERS, OutcomeFacts

_T = cel.Type

VARIABLES: dict[str, cel.Type] = {
    "outcome_type": _T.STRING,
    "title": _T.STRING,
    "achieved_on": _T.TIMESTAMP,
    "as_of": _T.TIMESTAMP,
    "age_days": _T.INT,
    "age_years": _T.INT,
    "hours": _T.DOUBLE,
    "has_hours": _T.BOOL,
    "level": _T.STRING,
    "score": _T.DOUBLE,
    "has_score": _T.BOOL,
    "grade": _T.STRING,
    "identity_verified": _T.BOOL,
    "issuer_kind": _T.STRING,
    "award_tier": _T.STRING,
    "field": _T.STRING,
    "attributes": _T.Map(_T.STRING, _T.DYN),
    "credit_hours": _T.INT,
}

#: Result types each expression slot accepts.
BOOL = (_T.BOOL,)
NUMBER = (_T.INT, _T.UINT, _T.DOUBLE)
INT = (_T.INT,)
STRING = (_T.STRING,)

_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")


class CelCompileError(Exception):
    """An expression did not compile or type-check; ``line``/``column`` are 1-based within it."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def new_env() -> cel.Env:
    """A fresh environment with the declared variables and the math and strings extensions."""
    return cel.NewEnv(
        variables=VARIABLES,
        extensions=[ext_math.ExtMath(), ext_strings.ExtStrings()],
    )


def compile_expr(env: cel.Env, text: str, allowed: tuple[cel.Type, ...], what: str) -> cel.Expression:
    """Compile and type-check ``text``; its result type must be one of ``allowed``.

    Raises:
        CelCompileError: on a syntax or type error, or a result of another type (``dyn`` included:
            wrap map values in ``double()``, ``int()`` or ``string()``).
    """
    try:
        expr = env.compile(text)
    except RuntimeError as exc:
        raise _compile_error(str(exc)) from None
    result = expr.return_type()
    if not any(result == t for t in allowed):
        names = " or ".join(t.name().lower() for t in allowed)
        raise CelCompileError(f"must be {names}, but the expression is {result.name().lower()}")
    return expr


def _compile_error(raw: str) -> CelCompileError:
    """First located message of a cel-expr-python error text (``ERROR: <input>:L:C: msg``)."""
    text = raw.removeprefix("INVALID_ARGUMENT: ")
    match = _POSITION.search(text)
    if match is None:
        return CelCompileError(text.strip().splitlines()[0] if text.strip() else "invalid expression")
    return CelCompileError(match.group(3).strip(), int(match.group(1)), int(match.group(2)))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def full_years(start: dt.date, end: dt.date) -> int:
    """Whole years from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return years


def _plain(value: Any) -> Any:
    """JSON-like attribute values as CEL values (Decimal -> double, date -> ISO text)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Bindings:
    """The variable values for one outcome, and the activation built from them."""

    values: dict[str, Any]
    activation: cel.Activation


_TIER_NAMES = {
    **{tier: tier for tier in AWARD_TIERS},
    **{str(n): tier for n, tier in enumerate(AWARD_TIERS, start=1)},
    **dict(zip(("first", "second", "third"), AWARD_TIERS, strict=True)),
    **dict(zip(("一等", "二等", "三等"), AWARD_TIERS, strict=True)),
}


def award_tier(outcome: OutcomeFacts) -> str:
    """The tier of a competition award (一等奖/二等奖/三等奖): its ``award_tier`` attribute, else the
    tier its title names, else ""."""
    given = outcome.attributes.get("award_tier")
    if given is not None:
        return _TIER_NAMES.get(str(given).strip().lower(), "")
    named = [tier for tier in AWARD_TIERS if tier in outcome.title]
    return named[0] if len(named) == 1 else ""


def bind(env: cel.Env, outcome: OutcomeFacts, as_of: dt.date, credit_hours: int) -> Bindings:
    """Variable values for ``outcome`` evaluated on ``as_of`` (see the table above)."""
    values: dict[str, Any] = {
        "outcome_type": outcome.outcome_type,
        "title": outcome.title,
        "achieved_on": _midnight(outcome.achieved_on),
        "as_of": _midnight(as_of),
        "age_days": (as_of - outcome.achieved_on).days,
        "age_years": full_years(outcome.achieved_on, as_of),
        "hours": to_cel_double(outcome.hours),
        "has_hours": outcome.hours is not None,
        "level": outcome.level or "",
        "score": to_cel_double(outcome.score),
        "has_score": outcome.score is not None,
        "grade": outcome.grade or "",
        "identity_verified": outcome.identity_verified,
        "issuer_kind": outcome.issuer_kind,
        "award_tier": award_tier(outcome),
        "field": outcome.field or "",
        "attributes": _plain(outcome.attributes) if outcome.attributes else {},
        "credit_hours": credit_hours,
    }
    return Bindings(values, env.Activation(values))


def run(expr: cel.Expression, bindings: Bindings) -> Any:
    """Evaluate a compiled expression; returns the plain Python value.

    Raises:
        CelEvalError: when CEL reports an error value (missing map key, division by zero, ...).
    """
    result = expr.eval(bindings.activation)
    if result.type() == _T.ERROR:
        raise CelEvalError(str(result.value()))
    return result.value()


class CelEvalError(Exception):
    """A rule's expression failed on this outcome (the engine routes the outcome to review)."""
