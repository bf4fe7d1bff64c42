"""Replaying the journal's invariants from the log's leaves alone.

How this works
--------------
Every leaf is the RFC 8785 JSON of one journal transaction, in the format that
:mod:`creditbank.standards.ledger.leaf` defines (and the ledger writes with it)::

    {"v": 1, "log": "main", "seq": 7, "id": "jtx_...", "kind": "conversion", "time": "...Z",
     "postings": [{"account": "learner:lrn_x:available", "amount": "-2.50", "lot": "lot_..."}, ...],
     "lots": [...],                      # recognitions: the lots they create
     "converts": [{"lot", "programme"}], # conversions: the lots they take
     "reverses": {"id", "seq"},          # reversals: the entry they mirror
     "details": {...}}

A :class:`Replay` is fed the leaves in log order and keeps only what later entries can refer to: the
running balance of each learner account, the state of each lot (free, converted by entry *n*, revoked),
and per entry its id, kind, a digest of its postings and what a reversal of it would undo. Each leaf is
checked as it arrives (see :data:`creditbank.audit.findings.CHECKS`) and every problem becomes a
:class:`~creditbank.audit.findings.Finding` naming the entry's index and transaction id; nothing stops
the replay, so one run lists all the damage.

Reversals are followed through chains: reversing a conversion frees its lots, reversing that reversal
converts them again (and must find them free), reversing a recognition revokes its lots, and so on. A
reversal's own postings say which lots it touches; the ``reversal-mirror`` check makes sure they are
the reversed entry's postings, negated.

The replay assumes that the log holds the whole history of the accounts and lots it mentions (one log,
or one learner shard). Nothing here does I/O: :func:`replay` takes any iterable of leaf bytes.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from creditbank.audit.findings import Finding
from creditbank.i18n import Said, msg
from creditbank.standards.ledger.leaf import (
    AMOUNT,
    KINDS,
    LEAF_VERSION,
    LeafDecoder,
    TxKind,
    is_learner_account,
    learner_of_account,
)

# Per-entry kind codes (a bytearray indexed by entry).
_UNUSABLE, _RECOGNITION, _CONVERSION, _REVERSAL, _OTHER = 0, 1, 2, 3, 4
_KIND_CODES: Final = {
    TxKind.recognition.value: _RECOGNITION,
    TxKind.conversion.value: _CONVERSION,
    TxKind.reversal.value: _REVERSAL,
}

# Lot states: a lot maps to the index of the conversion holding it, or to one of these.
_FREE: Final = -1
_REVOKED: Final = -2

_ZERO = Decimal(0)


def _negated(amount: str) -> str:
    return amount[1:] if amount.startswith("-") else "-" + amount


def _digest(shape: list[tuple[Any, Any, Any]]) -> int:
    """A 64-bit digest of postings as (account, amount, lot) triples, stable within this process."""
    try:
        return hash(tuple(shape))
    except TypeError:  # a malformed posting holds a list or an object
        return hash(repr(shape))


def _describe(leaf: bytes) -> str:
    return f"{leaf[:60]!r}{'...' if len(leaf) > 60 else ''}"


@dataclass
class ReplayStats:
    """Counts of what the replay saw."""

    entries: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    lots: int = 0
    learner_accounts: int = 0


class Replay:
    """Checks the journal invariants over the leaves fed to it, in log order.

    ``findings`` holds at most ``max_findings`` findings (the first ones); ``finding_count`` counts all.
    """

    def __init__(self, log_id: str, *, max_findings: int = 10_000, check_canonical: bool = True) -> None:
        self.log_id = log_id
        self.max_findings = max_findings
        self.check_canonical = check_canonical
        self.findings: list[Finding] = []
        self.finding_count = 0
        self._kinds: dict[str, int] = {}
        # per entry, indexed by position in the log
        self._kind = bytearray()
        self._origin: list[int] = []  # the non-reversal entry at the bottom of a reversal chain
        self._undo = bytearray()  # 1 if this entry undoes its origin's effect, 0 if it (re)applies it
        self._digest: list[int] = []  # hash of the entry's postings, for the mirror check
        # lookups
        self._index_of: dict[str, int] = {}
        self._reversed_by: dict[int, int] = {}
        self._lots: dict[str, int] = {}
        self._lot_learner: dict[str, str] = {}
        self._balances: dict[str, Decimal] = {}
        self._decoder = LeafDecoder()

    # --- reporting -----------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """The number of leaves fed so far (the next leaf's index)."""
        return len(self._kind)

    @property
    def ok(self) -> bool:
        """Whether every check held so far."""
        return self.finding_count == 0

    def stats(self) -> ReplayStats:
        return ReplayStats(
            entries=self.count,
            kinds=dict(self._kinds),
            lots=len(self._lots),
            learner_accounts=len(self._balances),
        )

    def _find(self, check: str, index: int, tx_id: str | None, message: Said) -> None:
        self.finding_count += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(Finding(check, message, index, tx_id))

    # --- parsing -------------------------------------------------------------------------------------------

    def _load(self, leaf: bytes) -> Any:
        """Parse a leaf's JSON (see :meth:`LeafDecoder.load`).

        Raises:
            ValueError: not UTF-8, or not JSON.
        """
        return self._decoder.load(leaf)

    def _is_canonical(self, leaf: bytes, body: Any) -> bool:
        return self._decoder.is_canonical(leaf, body)

    # --- the replay ----------------------------------------------------------------------------------------

    def _placeholder(self) -> None:
        index = self.count
        self._kind.append(_UNUSABLE)
        self._origin.append(index)
        self._undo.append(0)
        self._digest.append(0)

    def feed(self, leaf: bytes) -> None:
        """Check one leaf (the next one of the log) and apply it to the replayed state."""
        index = self.count
        # 1. Parse: a JSON object with the fields of the leaf format.
        try:
            body = self._load(leaf)
        except (ValueError, RecursionError) as exc:
            self._find(
                "leaf-json", index, None, msg("audit.replay.not_json", error=str(exc), leaf=_describe(leaf))
            )
            self._placeholder()
            return
        if not isinstance(body, dict):
            self._find("leaf-json", index, None, msg("audit.replay.not_object", leaf=_describe(leaf)))
            self._placeholder()
            return
        tx_id = body.get("id")
        if not isinstance(tx_id, str):
            self._find("leaf-json", index, None, msg("audit.replay.no_tx_id"))
            self._placeholder()
            return
        if self.check_canonical and not self._is_canonical(leaf, body):
            self._find("leaf-canonical", index, tx_id, msg("audit.replay.not_canonical"))
        version = body.get("v")
        if type(version) is not int or version != LEAF_VERSION:
            self._find(
                "leaf-version", index, tx_id, msg("audit.replay.unknown_version", version=repr(version))
            )
            self._placeholder()
            return
        seq, log, kind, postings = body.get("seq"), body.get("log"), body.get("kind"), body.get("postings")
        if type(seq) is not int or not isinstance(log, str) or not isinstance(kind, str):
            self._find("leaf-json", index, tx_id, msg("audit.replay.bad_header"))
            self._placeholder()
            return
        if not isinstance(postings, list) or not all(isinstance(p, dict) for p in postings):
            self._find("leaf-json", index, tx_id, msg("audit.replay.bad_postings"))
            self._placeholder()
            return
        # 2. Identity: position, log, unique id, known kind.
        if seq != index:
            self._find("sequence", index, tx_id, msg("audit.replay.sequence", seq=seq, index=index))
        if log != self.log_id:
            self._find(
                "log-id", index, tx_id, msg("audit.replay.log_id", log=repr(log), expected=repr(self.log_id))
            )
        if tx_id in self._index_of:
            self._find(
                "duplicate-id",
                index,
                tx_id,
                msg("audit.replay.duplicate_id", first=self._index_of[tx_id]),
            )
        else:
            self._index_of[tx_id] = index
        if kind not in KINDS:
            self._find("kind", index, tx_id, msg("audit.replay.unknown_kind", kind=repr(kind)))
            self._placeholder()
            return
        self._kinds[kind] = self._kinds.get(kind, 0) + 1
        # 3. Postings: well formed, zero sum, learner balances never negative.
        lots_posted, digest = self._apply_postings(index, tx_id, postings)
        code = _KIND_CODES.get(kind, _OTHER)
        self._kind.append(code)
        self._origin.append(index)
        self._undo.append(0)
        self._digest.append(digest)
        # 4. Lots and reversals.
        if code == _RECOGNITION:
            self._recognise(index, tx_id, body.get("lots"), lots_posted)
        elif code == _CONVERSION:
            self._convert(index, tx_id, body.get("converts"), lots_posted)
        elif code == _REVERSAL:
            self._reverse(index, tx_id, body.get("reverses"), postings, lots_posted)

    def _apply_postings(
        self, index: int, tx_id: str, postings: list[dict[str, Any]]
    ) -> tuple[dict[str, str | None], int]:
        """Check the postings and move the learner balances. Return the lot ids posted, in order, each
        with the learner whose account it moves (None if only other accounts), and the postings' digest."""
        total = _ZERO
        lots: dict[str, str | None] = {}
        touched: list[str] = []
        shape: list[tuple[Any, Any, Any]] = []
        for position, posting in enumerate(postings):
            account, amount, lot = posting.get("account"), posting.get("amount"), posting.get("lot")
            shape.append((account, amount, lot))
            if not isinstance(account, str) or not isinstance(amount, str) or not AMOUNT.fullmatch(amount):
                self._find(
                    "posting",
                    index,
                    tx_id,
                    msg("audit.replay.bad_posting", position=position, posting=repr(posting)),
                )
                continue
            value = Decimal(amount)
            if not value:
                self._find("posting", index, tx_id, msg("audit.replay.zero_posting", position=position))
            total += value
            learner_account = is_learner_account(account)
            if lot is not None:
                if isinstance(lot, str):
                    if learner_account:
                        lots[lot] = learner_of_account(account)
                    else:
                        lots.setdefault(lot, None)
                else:
                    self._find("posting", index, tx_id, msg("audit.replay.lot_not_string", position=position))
            if learner_account:
                self._balances[account] = self._balances.get(account, _ZERO) + value
                touched.append(account)
        if total:
            self._find("zero-sum", index, tx_id, msg("audit.replay.zero_sum", total=str(total)))
        for account in touched:
            balance = self._balances[account]
            if balance < 0:
                self._find(
                    "negative-balance",
                    index,
                    tx_id,
                    msg("audit.replay.negative_balance", account=account, balance=str(balance)),
                )
        return lots, _digest(shape)

    def _take_lot(self, index: int, tx_id: str, lot: str, holder: int, learner: str | None) -> None:
        """A conversion (``holder``) takes ``lot`` for ``learner``: it must be known, theirs and free."""
        state = self._lots.get(lot)
        owner = self._lot_learner.get(lot)
        if state is not None and learner is not None and owner is not None and owner != learner:
            self._find(
                "lot-owner",
                index,
                tx_id,
                msg("audit.replay.lot_owner", lot=lot, owner=owner, learner=learner),
            )
        if state is None:
            self._find("lot-unknown", index, tx_id, msg("audit.replay.lot_unknown", lot=lot))
        elif state == _REVOKED:
            self._find("lot-revoked", index, tx_id, msg("audit.replay.lot_revoked", lot=lot))
        elif state >= 0:
            self._find(
                "double-conversion", index, tx_id, msg("audit.replay.double_conversion", lot=lot, entry=state)
            )
        else:
            self._lots[lot] = holder

    def _recognise(self, index: int, tx_id: str, lots: Any, lots_posted: dict[str, str | None]) -> None:
        created: dict[str, str | None] = {}
        if isinstance(lots, list):
            for lot in lots:
                if isinstance(lot, dict) and isinstance(lot.get("id"), str):
                    learner = lot.get("learner")
                    created[lot["id"]] = learner if isinstance(learner, str) else None
                else:
                    self._find("leaf-json", index, tx_id, msg("audit.replay.lot_needs_id"))
        for lot, learner in lots_posted.items():
            if created.get(lot) is None:
                created[lot] = learner
        for lot, learner in created.items():
            if lot in self._lots:
                self._find("lot-duplicate", index, tx_id, msg("audit.replay.lot_duplicate", lot=lot))
            else:
                self._lots[lot] = _FREE
                if learner is not None:
                    self._lot_learner[lot] = learner

    def _convert(self, index: int, tx_id: str, converts: Any, lots_posted: dict[str, str | None]) -> None:
        listed: list[str] = []
        if converts is not None:
            if not isinstance(converts, list) or not all(
                isinstance(c, dict) and isinstance(c.get("lot"), str) for c in converts
            ):
                self._find("leaf-json", index, tx_id, msg("audit.replay.bad_converts"))
            else:
                listed = [c["lot"] for c in converts]
        if len(set(listed)) != len(listed):
            self._find("double-conversion", index, tx_id, msg("audit.replay.lot_twice"))
        if set(listed) != set(lots_posted):
            self._find(
                "conversion-lots",
                index,
                tx_id,
                msg(
                    "audit.replay.conversion_lots",
                    listed=str(sorted(set(listed))),
                    posted=str(sorted(lots_posted)),
                ),
            )
        for lot in dict.fromkeys([*listed, *lots_posted]):
            self._take_lot(index, tx_id, lot, index, lots_posted.get(lot))

    def _reverse(
        self,
        index: int,
        tx_id: str,
        reverses: Any,
        postings: list[dict[str, Any]],
        lots_posted: dict[str, str | None],
    ) -> None:
        # 1. The target: an earlier entry, named by id and seq.
        if (
            not isinstance(reverses, dict)
            or not isinstance(reverses.get("id"), str)
            or type(reverses.get("seq")) is not int
        ):
            self._find("reversal-target", index, tx_id, msg("audit.replay.reversal_needs_target"))
            return
        target = self._index_of.get(reverses["id"])
        if target is None or target >= index or target != reverses["seq"]:
            where: Said = (
                msg("audit.replay.no_earlier_entry")
                if target is None or target >= index
                else msg("audit.replay.entry", index=target)
            )
            self._find(
                "reversal-target",
                index,
                tx_id,
                msg("audit.replay.reversal_target", id=reverses["id"], seq=reverses["seq"], where=where),
            )
            return
        # 2. At most once.
        first = self._reversed_by.get(target)
        if first is not None:
            self._find(
                "double-reversal",
                index,
                tx_id,
                msg("audit.replay.double_reversal", target=target, first=first),
            )
            return
        self._reversed_by[target] = index
        # 3. The exact mirror of the target's postings.
        mirror = _digest(
            [
                (
                    p.get("account"),
                    _negated(p["amount"]) if isinstance(p.get("amount"), str) else p.get("amount"),
                    p.get("lot"),
                )
                for p in postings
            ]
        )
        if self._kind[target] == _UNUSABLE:
            return
        if mirror != self._digest[target]:
            self._find("reversal-mirror", index, tx_id, msg("audit.replay.reversal_mirror", target=target))
        # 4. Undo (or, for a reversal of a reversal, redo) the lot effect at the bottom of the chain.
        origin = self._origin[target]
        undo = 1 - self._undo[target]
        self._origin[index] = origin
        self._undo[index] = undo
        base = self._kind[origin]
        if base == _CONVERSION:
            for lot, learner in lots_posted.items():
                if undo:
                    if self._lots.get(lot) != origin:
                        self._find(
                            "reversal-lots",
                            index,
                            tx_id,
                            msg("audit.replay.reversal_lots", lot=lot, origin=origin),
                        )
                    else:
                        self._lots[lot] = _FREE
                else:
                    self._take_lot(index, tx_id, lot, origin, learner)
        elif base == _RECOGNITION:
            for lot in lots_posted:
                state = self._lots.get(lot)
                if undo and state is not None and state >= 0:
                    self._find(
                        "revoked-while-converted",
                        index,
                        tx_id,
                        msg("audit.replay.revoked_while_converted", lot=lot, entry=state),
                    )
                elif undo and state == _FREE:
                    self._lots[lot] = _REVOKED
                elif not undo and state == _REVOKED:
                    self._lots[lot] = _FREE


def replay(
    leaves: Iterable[bytes], log_id: str, *, max_findings: int = 10_000, check_canonical: bool = True
) -> Replay:
    """Replay ``leaves`` (the log's leaves from index 0, in order) and return the finished :class:`Replay`.

    Its ``findings`` list every failed check; ``ok`` says whether all held.
    """
    state = Replay(log_id, max_findings=max_findings, check_canonical=check_canonical)
    for leaf in leaves:
        state.feed(leaf)
    return state
