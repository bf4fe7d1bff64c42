"""The fast canonical encoder agrees with the rfc8785 package on everything it is given."""

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank import canonical

scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(values)
def test_agrees_with_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert canonical.dumps(value) == expected


def test_leaf_shaped_values() -> None:
    leaf: dict[str, Any] = {
        "v": 1,
        "seq": 2**40,
        "postings": [{"account": "learner:lrn_x:available", "amount": "-2.50", "lot": "lot_1"}],
        "details": {
            "title": 'Web前端开发\u2028实训\n"引号"',
            "é": True,
            "a": None,
            "𝄞": "astral key",
            "k": "astral 𝄞 value 😀",
        },
    }
    assert canonical.dumps(leaf) == rfc8785.dumps(leaf)
