"""What an audit reports: one :class:`Finding` per failed check, and the catalogue of checks.

The checks are data (:data:`CHECKS`): each has a stable name, printed with every finding, and a one-line
description that ``docs/ledger.md`` and ``docs/auditor-guide.md`` repeat. An audit collects every
finding rather than stopping at the first, so one run shows the whole damage.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from creditbank.i18n import Lang, Message, Said, msg, text_of

CHECKS: Mapping[str, str] = {
    # the log as a whole (creditbank.audit.verify)
    "checkpoint-fetch": "the checkpoint can be downloaded",
    "checkpoint-signature": "the checkpoint is a C2SP checkpoint signed by the given log key",
    "rollback": "the checkpoint is not smaller than the one saved by the last audit",
    "consistency": "the checkpoint is consistent with the one saved by the last audit (RFC 9162 proof)",
    "entries-fetch": "every entry of the checkpoint's tree can be downloaded, in order",
    "leaf-hash": "each entry's served leaf_hash is SHA-256(0x00 || leaf)",
    "root": "the Merkle root recomputed from all leaves is the checkpoint's root",
    # each leaf (creditbank.audit.replay)
    "leaf-json": "the leaf is a JSON object with the fields of its format (v, log, seq, id, kind, postings)",
    "leaf-canonical": "the leaf is RFC 8785 (JCS) canonical JSON",
    "leaf-version": "the leaf format version is one this auditor knows",
    "sequence": "the entry's seq is its index in the log (gapless, from 0)",
    "log-id": "the entry names the audited log",
    "duplicate-id": "no two entries share a transaction id",
    "kind": "the entry's kind is one of the journal's kinds",
    "posting": "each posting names an account and a non-zero amount with exactly two decimals",
    "zero-sum": "the postings of each entry sum to zero",
    "negative-balance": "no learner:*:available or learner:*:converted balance ever goes below zero",
    "lot-duplicate": "a recognition never creates a lot id that already exists",
    "lot-unknown": "a conversion converts only lots recognised earlier in the log",
    "lot-revoked": "a lot whose recognition was reversed is never converted",
    "lot-owner": "a conversion converts only lots of the learner whose accounts it moves",
    "double-conversion": "a lot is converted at most once, unless that conversion was reversed",
    "conversion-lots": "a conversion's 'converts' list names exactly the lots of its postings",
    "reversal-target": "a reversal names (by id and seq) an earlier entry of the log",
    "double-reversal": "a transaction is reversed at most once",
    "reversal-mirror": "a reversal's postings are exactly the reversed entry's postings, negated",
    "reversal-lots": "reversing a conversion frees lots that conversion holds",
    "revoked-while-converted": "a recognition is not reversed while its lot stays converted",
}


@dataclass(frozen=True)
class Finding:
    """One failed check: which check, where (entry index and transaction id, when it concerns one entry)
    and what was found: ``said``, a :class:`~creditbank.i18n.Message` rendered in its reader's language
    (``message`` and ``--json`` keep the English text)."""

    check: str
    said: Said
    index: int | None = None
    tx_id: str | None = None

    def __post_init__(self) -> None:
        """Raises: ValueError: ``check`` is not in :data:`CHECKS`."""
        if self.check not in CHECKS:
            raise ValueError(f"unknown audit check {self.check!r}")

    @property
    def message(self) -> str:
        """What was found, in English."""
        return text_of(self.said, "en")

    def line(self) -> Message:
        """The finding as one line for people, rendered in their language when printed."""
        if self.index is None:
            return msg("audit.finding", check=self.check, message=self.said)
        tx_id: Said = self.tx_id or msg("audit.finding.unknown_id")
        return msg("audit.finding.entry", index=self.index, tx_id=tx_id, check=self.check, message=self.said)

    def text(self, lang: Lang) -> str:
        return self.line().text(lang)

    def __str__(self) -> str:
        return self.text("en")

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "index": self.index, "tx_id": self.tx_id, "message": self.message}
