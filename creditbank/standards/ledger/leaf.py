"""The leaf format of the ledger's transparency log, written once.

How this works
--------------
Every committed journal transaction is one leaf of its log's Merkle tree: the RFC 8785 (JCS)
canonical JSON of the transaction::

    {"v": 1, "log": "main", "seq": 7, "id": "jtx_...", "kind": "conversion", "time": "...Z",
     "postings": [{"account": "learner:lrn_x:available", "amount": "-2.50", "lot": "lot_..."}, ...],
     "lots": [{"id", "learner", "issuer", "credits", "category", "level", "field",
               "rule": {"id", "version", "set_hash"}, "expires"?}],   # recognitions: the lots created
     "converts": [{"lot", "programme"}],                             # conversions: the lots taken
     "reverses": {"id", "seq"},                                      # reversals: the entry mirrored
     "details": {...}}                                               # free-form, never personal data

Amounts are decimal strings with exactly two places (``"-2.50"``); learner accounts are named
``learner:<learner id>:available`` and ``learner:<learner id>:converted``, issuer accounts
``issuer:<institution id>``. Optional members are left out rather than written as null.

Three readers share this module: the ledger writes leaves with :func:`encode` (``ledger.service``),
the auditor replays them (``audit.replay``: :class:`LeafDecoder`, :data:`KINDS`,
:data:`LEAF_VERSION`, :func:`learner_of_account`) and the certificate verifier parses the one leaf a
certificate cites with :func:`parse` to compare it with what the certificate states. Nothing here
touches a database.
"""

import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, NamedTuple, NewType

import rfc8785

from creditbank import canonical
from creditbank.ids import InstitutionId, LearnerId, LogId, LotId

AccountId = NewType("AccountId", str)
TransactionId = NewType("TransactionId", str)

#: The version every leaf carries in ``v``; a reader refuses any other.
LEAF_VERSION: Final = 1


class TxKind(StrEnum):
    """The kinds of journal transaction (the leaf's ``kind``)."""

    recognition = "recognition"
    conversion = "conversion"
    reversal = "reversal"
    review_decision = "review_decision"
    erasure = "erasure"
    note = "note"


#: Every kind a leaf may name, as strings.
KINDS: Final = frozenset(kind.value for kind in TxKind)

#: An amount as a leaf writes it: a decimal string with exactly two places.
AMOUNT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]{2}")

_MAX_SAFE_INTEGER = 2**53
_ASTRAL = re.compile(rb"[\xf0-\xf7]")  # first byte of the UTF-8 form of a character beyond U+FFFF
_FAST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class LeafFormatError(ValueError):
    """Bytes that are not a leaf of this format (the message says what is wrong)."""


# --- account names ----------------------------------------------------------------------------------------


def available_account(learner_id: str) -> AccountId:
    return AccountId(f"learner:{learner_id}:available")


def converted_account(learner_id: str) -> AccountId:
    return AccountId(f"learner:{learner_id}:converted")


def issuer_account(institution_id: str) -> AccountId:
    return AccountId(f"issuer:{institution_id}")


def is_learner_account(account: str) -> bool:
    return account.startswith("learner:") and (
        account.endswith(":available") or account.endswith(":converted")
    )


def learner_of_account(account: str) -> LearnerId | None:
    """The learner whose available or converted account this is, or None for other accounts."""
    if not is_learner_account(account):
        return None
    return LearnerId(account[8 : account.rindex(":")])


def format_time(moment: dt.datetime) -> str:
    """A leaf's ``time``: UTC, milliseconds, ``Z``."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_NO_DETAILS: Mapping[str, Any] = MappingProxyType({})


# --- the typed leaf (named tuples: immutable, and cheap to build for every entry) ------------------------


class Posting(NamedTuple):
    account: AccountId
    amount: Decimal  # credits, two decimal places
    lot: LotId | None = None


class RuleCitation(NamedTuple):
    id: str
    version: str
    set_hash: str


class NewLot(NamedTuple):
    """A lot a recognition creates."""

    id: LotId
    learner: LearnerId
    issuer: InstitutionId
    credits: Decimal  # credits, two decimal places
    category: str
    level: int
    field: str
    rule: RuleCitation
    expires: dt.date | None = None


class Conversion(NamedTuple):
    """A lot a conversion takes, for a programme."""

    lot: LotId
    programme: str


class Reverses(NamedTuple):
    """The entry a reversal mirrors."""

    id: TransactionId
    seq: int


class Leaf(NamedTuple):
    """One journal transaction as its leaf records it."""

    log: LogId
    seq: int
    id: TransactionId
    kind: TxKind
    time: str
    postings: tuple[Posting, ...]
    lots: tuple[NewLot, ...] = ()
    converts: tuple[Conversion, ...] = ()
    reverses: Reverses | None = None
    details: Mapping[str, Any] = _NO_DETAILS

    @property
    def learner_ids(self) -> frozenset[LearnerId]:
        """The learners whose accounts the postings move."""
        found = (learner_of_account(p.account) for p in self.postings)
        return frozenset(learner for learner in found if learner is not None)

    def lot(self, lot_id: str) -> NewLot | None:
        return next((lot for lot in self.lots if lot.id == lot_id), None)


def to_json(leaf: Leaf) -> dict[str, Any]:
    """The JSON object of ``leaf`` (optional members left out when empty)."""
    body: dict[str, Any] = {
        "v": LEAF_VERSION,
        "log": leaf.log,
        "seq": leaf.seq,
        "id": leaf.id,
        "kind": leaf.kind.value,
        "time": leaf.time,
        "postings": [
            {"account": p.account, "amount": str(p.amount), **({"lot": p.lot} if p.lot else {})}
            for p in leaf.postings
        ],
    }
    if leaf.lots:
        body["lots"] = [
            {
                "id": lot.id,
                "learner": lot.learner,
                "issuer": lot.issuer,
                "credits": str(lot.credits),
                "category": lot.category,
                "level": lot.level,
                "field": lot.field,
                "rule": {"id": lot.rule.id, "version": lot.rule.version, "set_hash": lot.rule.set_hash},
                **({"expires": lot.expires.isoformat()} if lot.expires else {}),
            }
            for lot in leaf.lots
        ]
    if leaf.reverses is not None:
        body["reverses"] = {"id": leaf.reverses.id, "seq": leaf.reverses.seq}
    if leaf.converts:
        body["converts"] = [{"lot": c.lot, "programme": c.programme} for c in leaf.converts]
    if leaf.details:
        body["details"] = dict(leaf.details)
    return body


def encode(leaf: Leaf) -> bytes:
    """The leaf's bytes: the RFC 8785 canonical JSON of :func:`to_json`."""
    return canonical.dumps(to_json(leaf))


# --- reading --------------------------------------------------------------------------------------------


class LeafDecoder:
    """Strict JSON for leaves: UTF-8, no NaN or Infinity, and a canonical-form check.

    One decoder is reused for many leaves (the auditor replays millions); it notes, per leaf, the numbers
    the fast canonical check cannot vouch for (floats, integers beyond 2**53).
    """

    def __init__(self) -> None:
        self._unsafe_number = False
        self._decoder = json.JSONDecoder(
            parse_int=self._parse_int, parse_float=self._parse_float, parse_constant=self._refuse_constant
        )

    def _parse_int(self, text: str) -> int:
        value = int(text)
        if not -_MAX_SAFE_INTEGER < value < _MAX_SAFE_INTEGER:
            self._unsafe_number = True
        return value

    def _parse_float(self, text: str) -> float:
        self._unsafe_number = True
        return float(text)

    @staticmethod
    def _refuse_constant(text: str) -> Any:
        raise ValueError(f"{text} is not JSON")

    def load(self, leaf: bytes) -> Any:
        """Parse a leaf's JSON (not yet checked against the format).

        Raises:
            ValueError: not UTF-8, or not JSON.
        """
        self._unsafe_number = False
        return self._decoder.decode(leaf.decode("utf-8"))

    def is_canonical(self, leaf: bytes, body: Any) -> bool:
        """Whether ``leaf`` is the RFC 8785 form of ``body`` (the value :meth:`load` just returned).

        Fast path: for JSON without floats, without integers beyond 2**53 and without characters beyond
        U+FFFF, Python's sorted compact UTF-8 output is exactly RFC 8785's (same escapes, and code-point
        order equals UTF-16 order below U+10000). Anything else goes through the ``rfc8785`` package.
        """
        if not self._unsafe_number and (leaf.isascii() or not _ASTRAL.search(leaf)):
            try:
                if _FAST_JSON.encode(body).encode("utf-8") == leaf:
                    return True
            except (ValueError, UnicodeEncodeError):
                return False
        try:
            return bool(rfc8785.dumps(body) == leaf)
        except (rfc8785.CanonicalizationError, ValueError, UnicodeEncodeError):
            return False


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise LeafFormatError(message)


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    _require(isinstance(value, str), f"{where}: {key} must be a string")
    return str(value)


def _integer(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise LeafFormatError(f"{where}: {key} must be an integer")
    return value


def _amount(obj: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = _text(obj, key, where)
    _require(bool(AMOUNT.fullmatch(value)), f"{where}: {key} {value!r} is not an amount like '2.50'")
    return Decimal(value)


def _objects(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = body.get(key, [])
    _require(
        isinstance(value, list) and all(isinstance(item, dict) for item in value),
        f"{key} must be a list of objects",
    )
    return list(value)


def _new_lot(obj: Mapping[str, Any], where: str) -> NewLot:
    rule = obj.get("rule")
    _require(isinstance(rule, dict), f"{where}: rule must be an object")
    assert isinstance(rule, dict)
    expires = obj.get("expires")
    expires_on: dt.date | None = None
    if expires is not None:
        try:
            expires_on = dt.date.fromisoformat(expires) if isinstance(expires, str) else None
        except ValueError:
            expires_on = None
        _require(expires_on is not None, f"{where}: expires {expires!r} is not a date")
    return NewLot(
        id=LotId(_text(obj, "id", where)),
        learner=LearnerId(_text(obj, "learner", where)),
        issuer=InstitutionId(_text(obj, "issuer", where)),
        credits=_amount(obj, "credits", where),
        category=_text(obj, "category", where),
        level=_integer(obj, "level", where),
        field=_text(obj, "field", where),
        rule=RuleCitation(
            id=_text(rule, "id", f"{where} rule"),
            version=_text(rule, "version", f"{where} rule"),
            set_hash=_text(rule, "set_hash", f"{where} rule"),
        ),
        expires=expires_on,
    )


def parse(data: bytes) -> Leaf:
    """Parse and check one leaf: canonical JSON, this format's version, every member well typed.

    Raises:
        LeafFormatError: anything that is not a leaf of this format.
    """
    decoder = LeafDecoder()
    try:
        body = decoder.load(data)
    except (ValueError, RecursionError) as exc:
        raise LeafFormatError(f"the leaf is not JSON ({exc})") from exc
    _require(isinstance(body, dict), "the leaf is not a JSON object")
    _require(decoder.is_canonical(data, body), "the leaf is not RFC 8785 canonical JSON")
    version = body.get("v")
    _require(type(version) is int and version == LEAF_VERSION, f"unknown leaf format version {version!r}")
    kind = _text(body, "kind", "leaf")
    _require(kind in KINDS, f"unknown kind {kind!r}")
    postings = []
    for i, p in enumerate(_objects(body, "postings")):
        lot = p.get("lot")
        _require(lot is None or isinstance(lot, str), f"posting {i}: lot must be a string")
        postings.append(
            Posting(
                account=AccountId(_text(p, "account", f"posting {i}")),
                amount=_amount(p, "amount", f"posting {i}"),
                lot=LotId(lot) if lot is not None else None,
            )
        )
    reverses = body.get("reverses")
    _require(reverses is None or isinstance(reverses, dict), "reverses must be an object")
    details = body.get("details", {})
    _require(isinstance(details, dict), "details must be an object")
    return Leaf(
        log=LogId(_text(body, "log", "leaf")),
        seq=_integer(body, "seq", "leaf"),
        id=TransactionId(_text(body, "id", "leaf")),
        kind=TxKind(kind),
        time=_text(body, "time", "leaf"),
        postings=tuple(postings),
        lots=tuple(_new_lot(lot, f"lot {i}") for i, lot in enumerate(_objects(body, "lots"))),
        converts=tuple(
            Conversion(
                lot=LotId(_text(c, "lot", f"converts {i}")),
                programme=_text(c, "programme", f"converts {i}"),
            )
            for i, c in enumerate(_objects(body, "converts"))
        ),
        reverses=Reverses(
            id=TransactionId(_text(reverses, "id", "reverses")), seq=_integer(reverses, "seq", "reverses")
        )
        if isinstance(reverses, dict)
        else None,
        details=details,
    )
