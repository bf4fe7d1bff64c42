"""The request fingerprint of idempotent writes (creditbank.ledger.idempotency.fingerprint) writes the
RFC 8785 form of plain-string requests itself (the single posting's); it must equal the general
encoder's byte for byte, or a retry after an upgrade would be refused as another request."""

import hashlib
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.ledger import idempotency

# plain printable ASCII, the two characters that need escaping, control characters, non-ASCII
TEXT = st.text(
    alphabet=st.sampled_from(
        [*"azAZ09 -_/.:!#[]{}~", '"', "\\", "\x00", "\x1f", "\x7f", "é", "中", "\U0001f600"]
    )
)


def _reference(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(rfc8785.dumps({"method": method, "path": path, "body": body})).hexdigest()


@settings(max_examples=400, deadline=None)
@given(method=TEXT, path=TEXT, body=st.dictionaries(TEXT, TEXT, max_size=4))
def test_the_fingerprint_of_string_requests_is_rfc8785s(method: str, path: str, body: dict[str, str]) -> None:
    assert idempotency.fingerprint(method, path, body) == _reference(method, path, body)
    plain = idempotency._plain_canonical(method, path, body)
    if plain is not None:
        assert plain == rfc8785.dumps({"method": method, "path": path, "body": body})


def test_a_postings_fingerprint_takes_the_direct_form() -> None:
    body = {"content": hashlib.sha256(b"x").hexdigest()}
    assert idempotency._plain_canonical("POST", "/api/v1/outcomes", body) is not None
    assert idempotency.fingerprint("POST", "/api/v1/outcomes", body) == _reference(
        "POST", "/api/v1/outcomes", body
    )


@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | TEXT,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=8,
    )
)
@settings(max_examples=200, deadline=None)
def test_any_other_body_is_encoded_as_before(body: Any) -> None:
    assert idempotency.fingerprint("POST", "/p", body) == _reference("POST", "/p", body)
