"""Credit amounts: the one place where a credit ``Decimal`` is built.

How this works
--------------
Credits are ``Decimal`` everywhere. CEL has no decimal type, so a credit formula returns a CEL
``int`` or ``double``; :func:`to_decimal` turns that into a ``Decimal`` *without* ever doing
arithmetic on the float:

1. an ``int`` is taken as it is;
2. a ``float`` is converted through ``repr`` (Python's shortest round-trip text, so ``3.125`` becomes
   ``Decimal("3.125")`` and never the 50-digit binary expansion), then snapped to
   :data:`SNAP` (``1e-9``). The formulas a rule set uses (an hour count divided or multiplied by a
   small constant) carry a relative float error of about ``1e-16``, far below the snap, so the
   snapped value is the exact decimal result whenever that result has nine or fewer decimals;
3. the only decision that matters to a learner -- rounding to half-credit steps -- is then taken in
   ``Decimal`` by :func:`to_half_steps` (``ROUND_FLOOR`` by default: 40 hours at 16 hours a credit
   is 2.5 credits, 30 hours is 1.5, not 2).

Text (from YAML or JSON) and ``Decimal`` inputs go through the same helper, so there is exactly one
constructor of credit amounts in the rule engine.
"""

import math
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

SNAP = Decimal("1e-9")
HALF = Decimal("0.5")
ZERO = Decimal(0)

Rounding = Literal["down", "half_up"]

_ROUNDING = {"down": ROUND_FLOOR, "half_up": ROUND_HALF_UP}


def to_decimal(value: object) -> Decimal:
    """Build a ``Decimal`` from an ``int``, ``float`` (CEL ``double``), ``str`` or ``Decimal``.

    Raises:
        ValueError: for booleans, other types, text that is not a number, NaN or infinities.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        try:
            result = Decimal(repr(value)).quantize(SNAP, rounding=ROUND_HALF_EVEN).normalize()
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is too large for an amount") from exc
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a number") from exc
    else:
        raise ValueError(f"{type(value).__name__} is not an amount")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def to_half_steps(amount: Decimal, rounding: Rounding = "down") -> Decimal:
    """Round ``amount`` to a multiple of 0.5 (``down`` = towards minus infinity, or ``half_up``)."""
    doubled = (amount * 2).quantize(Decimal(1), rounding=_ROUNDING[rounding])
    return doubled / 2


def format_amount(amount: Decimal) -> str:
    """Text of an amount without trailing zeros or exponent: ``3``, ``2.5``, ``3.125``."""
    return format(amount.normalize(), "f")


def to_cel_double(amount: Decimal | None) -> float:
    """The CEL ``double`` given to formulas for an input quantity (hours, score); ``None`` is 0.0."""
    return 0.0 if amount is None else float(amount)
