"""Decimal credits: one constructor, half-credit steps, no float arithmetic on credits."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditbank.rule_engine.amounts import format_amount, to_decimal, to_half_steps


class TestToDecimal:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (3, "3"),
            (3.125, "3.125"),
            (0.1 + 0.2, "0.3"),
            ("2.50", "2.50"),
            (Decimal("1.5"), "1.5"),
            (2.5 / 1, "2.5"),
        ],
    )
    def test_values(self, value: object, expected: str) -> None:
        assert to_decimal(value) == Decimal(expected)

    def test_float_goes_through_its_text(self) -> None:
        assert (
            str(to_decimal(3.3)) == "3.3"
        )  # never Decimal(3.3) = 3.29999999999999982236431605997495353221893310546875

    @pytest.mark.parametrize("value", [True, None, "abc", float("nan"), float("inf"), [1]])
    def test_refuses(self, value: object) -> None:
        with pytest.raises(ValueError, match=r"."):
            to_decimal(value)


class TestHalfSteps:
    @pytest.mark.parametrize(
        ("amount", "down", "half_up"),
        [
            ("3", "3", "3"),
            ("2.5", "2.5", "2.5"),
            ("1.875", "1.5", "2"),
            ("0.24", "0", "0"),
            ("0.25", "0", "0.5"),
            ("3.74", "3.5", "3.5"),
        ],
    )
    def test_rounding(self, amount: str, down: str, half_up: str) -> None:
        assert to_half_steps(Decimal(amount)) == Decimal(down)
        assert to_half_steps(Decimal(amount), "half_up") == Decimal(half_up)

    @given(st.integers(min_value=0, max_value=100_000))
    def test_hours_over_sixteen(self, hours: int) -> None:
        credits = to_half_steps(to_decimal(hours / 16.0))
        assert credits == to_half_steps(Decimal(hours) / 16)
        assert (credits * 2) % 1 == 0
        assert Decimal(0) <= Decimal(hours) / 16 - credits < Decimal("0.5")

    @given(st.decimals(min_value=0, max_value=1000, places=2))
    def test_decimal_hours(self, hours: Decimal) -> None:
        assert to_half_steps(to_decimal(float(hours) / 16.0)) == to_half_steps(hours / 16)

    def test_format(self) -> None:
        assert format_amount(Decimal("3.00")) == "3"
        assert format_amount(Decimal("2.50")) == "2.5"
        assert format_amount(Decimal("1E+1")) == "10"
