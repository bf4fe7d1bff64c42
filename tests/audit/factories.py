"""Synthetic logs for replay tests: leaves in the ledger's format, built without a database.

:class:`SyntheticLog` writes each entry the way :func:`creditbank.ledger.append.build_leaf` does (RFC 8785
JSON with v, log, seq, id, kind, time, postings, and lots / converts / reverses), numbering entries
itself; its ``raw`` method appends arbitrary bytes so tests can break the format on purpose.
"""

from decimal import Decimal
from typing import Any

import rfc8785


class SyntheticLog:
    def __init__(self, log_id: str = "main") -> None:
        self.log_id = log_id
        self.bodies: list[dict[str, Any] | None] = []
        self.leaves: list[bytes] = []

    @property
    def next_seq(self) -> int:
        return len(self.leaves)

    def raw(self, leaf: bytes) -> int:
        """Append arbitrary bytes as the next leaf; return its index."""
        self.bodies.append(None)
        self.leaves.append(leaf)
        return len(self.leaves) - 1

    def entry(self, kind: str, postings: list[dict[str, str]], **fields: Any) -> int:
        """Append an entry; ``fields`` override or add top-level fields (``seq=``, ``log=``, ``id=``...)."""
        index = self.next_seq
        body: dict[str, Any] = {
            "v": 1,
            "log": self.log_id,
            "seq": index,
            "id": f"jtx_{index:04d}",
            "kind": kind,
            "time": "2026-11-29T12:00:00.000Z",
            "postings": postings,
            **fields,
        }
        self.bodies.append(body)
        self.leaves.append(bytes(rfc8785.dumps(body)))
        return index

    def tx_id(self, index: int) -> str:
        body = self.bodies[index]
        assert body is not None
        return str(body["id"])

    def recognise(self, learner: str, credits: str, lot: str, issuer: str = "ins_a", **fields: Any) -> int:
        amount = Decimal(credits).quantize(Decimal("0.01"))
        return self.entry(
            "recognition",
            [
                {"account": f"issuer:{issuer}", "amount": str(-amount), "lot": lot},
                {"account": f"learner:{learner}:available", "amount": str(amount), "lot": lot},
            ],
            lots=[
                {
                    "id": lot,
                    "learner": learner,
                    "issuer": issuer,
                    "credits": str(amount),
                    "category": "vocational",
                    "level": 4,
                    "field": "computing",
                    "rule": {"id": "r1", "version": "1", "set_hash": "ab" * 32},
                }
            ],
            **fields,
        )

    def convert(self, learner: str, lots: dict[str, str], programme: str = "p1", **fields: Any) -> int:
        postings: list[dict[str, str]] = []
        for lot, credits in lots.items():
            amount = Decimal(credits).quantize(Decimal("0.01"))
            postings.append({"account": f"learner:{learner}:available", "amount": str(-amount), "lot": lot})
            postings.append({"account": f"learner:{learner}:converted", "amount": str(amount), "lot": lot})
        fields.setdefault("converts", [{"lot": lot, "programme": programme} for lot in lots])
        return self.entry("conversion", postings, details={"programme": programme}, **fields)

    def reverse(self, index: int, **fields: Any) -> int:
        """A reversal mirroring entry ``index`` (negated postings, ``reverses`` naming it)."""
        body = self.bodies[index]
        assert body is not None
        postings = [
            {**p, "amount": str(-Decimal(p["amount"]))}
            for p in body["postings"]  # mirror, lots kept
        ]
        fields.setdefault("reverses", {"id": body["id"], "seq": body["seq"]})
        return self.entry(
            "reversal", postings, details={"reason": "test", "reversed_kind": body["kind"]}, **fields
        )
