"""The public log endpoints (``/logs``), checked the way an outside auditor would check them.

The Merkle tree hash, the proofs and the checkpoint signature are recomputed here by an independent
implementation written from the specifications (RFC 9162 sections 2.1.1-2.1.4, C2SP signed-note), using
only hashlib, base64 and ``cryptography``: none of the project's Merkle or note code.
"""

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.ids import random_id
from creditbank.ledger import service
from creditbank.transparency import store
from tests.ledger.factories import recognition

# --- an independent RFC 9162 implementation (hashlib only) ------------------------------------------------


def rfc_leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def rfc_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def rfc_split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def rfc_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]), section 2.1.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return rfc_leaf_hash(leaves[0])
    k = rfc_split(len(leaves))
    return rfc_node(rfc_mth(leaves[:k]), rfc_mth(leaves[k:]))


def rfc_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), section 2.1.3.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = rfc_split(n)
    if m < k:
        return [*rfc_path(m, leaves[:k]), rfc_mth(leaves[k:])]
    return [*rfc_path(m - k, leaves[k:]), rfc_mth(leaves[:k])]


def rfc_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), section 2.1.4.1."""
    n = len(leaves)
    if m == n:
        return [] if b else [rfc_mth(leaves)]
    k = rfc_split(n)
    if m <= k:
        return [*rfc_subproof(m, leaves[:k], b), rfc_mth(leaves[k:])]
    return [*rfc_subproof(m - k, leaves[k:], False), rfc_mth(leaves[:k])]


def rfc_verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Section 2.1.3.2, step by step."""
    if index >= size:  # 1.
        return False
    fn, sn = index, size - 1  # 2.
    r = leaf_hash  # 3.
    for p in proof:  # 4.
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            r = rfc_node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = rfc_node(r, p)
        fn >>= 1  # c.
        sn >>= 1
    return sn == 0 and r == root  # 5.


def rfc_verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, proof: Sequence[bytes]
) -> bool:
    """Section 2.1.4.2, step by step."""
    if not proof:  # 1.
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # 2. first is an exact power of 2
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1  # 3.
    while fn & 1:  # 4.
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # 5.
    for c in path[1:]:  # 6.
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            fr = rfc_node(c, fr)
            sr = rfc_node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = rfc_node(sr, c)
        fn >>= 1  # c.
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0  # 7.


# --- an independent C2SP checkpoint reader ------------------------------------------------------------------


def open_checkpoint(note: str, verifier_key: str) -> tuple[str, int, bytes]:
    """Verify a signed checkpoint with C2SP verifier-key text; return (origin, size, root)."""
    name, key_id_hex, key_b64 = verifier_key.split("+", 2)
    key = base64.b64decode(key_b64, validate=True)
    assert key[0] == 0x01 and len(key) == 33
    assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id_hex
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    verified = False
    for line in signatures.splitlines():
        assert line.startswith("\u2014 ")
        signer, encoded = line[2:].split(" ")
        raw = base64.b64decode(encoded, validate=True)
        if signer == name and raw[:4].hex() == key_id_hex:
            try:
                Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], text.encode())
            except InvalidSignature:
                return ("", -1, b"")
            verified = True
    assert verified, "no signature by the log's key"
    origin, size, root, *_ = text.splitlines()
    return origin, int(size), base64.b64decode(root, validate=True)


# --- helpers -----------------------------------------------------------------------------------------------


def new_log(ctx: AppContext, session: Session) -> str:
    log_id = random_id("t", 5)
    store.ensure_log(session, ctx.secrets.master_key, log_id, store.origin_for("http://testserver", log_id))
    return log_id


def append(session: Session, log_id: str, count: int) -> None:
    service.record_recognitions(session, [recognition() for _ in range(count)], log_id=log_id)


def publish(ctx: AppContext, session: Session, log_id: str) -> None:
    assert store.publish_checkpoint(session, ctx.secrets.master_key, log_id) is not None


def log_info(client: TestClient, log_id: str) -> dict[str, Any]:
    [info] = [log for log in client.get("/logs").json() if log["id"] == log_id]
    return dict(info)


def leaves_of(client: TestClient, log_id: str, size: int) -> list[bytes]:
    leaves: list[bytes] = []
    while len(leaves) < size:
        page = client.get(f"/logs/{log_id}/entries", params={"start": len(leaves), "end": size}).json()
        leaves += [base64.b64decode(e["leaf"]) for e in page["entries"]]
    return leaves


def b64list(values: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(v, validate=True) for v in values]


def assert_problem(response: Response, status: int, slug: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if slug is not None:
        assert response.json()["type"].endswith("/" + slug)


# --- the tests ---------------------------------------------------------------------------------------------


class TestListLogs:
    def test_lists_main_with_a_verifier_key_that_parses(self, client: TestClient) -> None:
        info = log_info(client, "main")
        assert info["origin"] == "testserver/logs/main"
        name, key_id, key = info["verifier_key"].split("+", 2)
        assert name == info["origin"] and len(key_id) == 8
        assert len(base64.b64decode(key, validate=True)) == 33

    def test_size_is_the_published_size(self, ctx: AppContext, session: Session, client: TestClient) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 3)
        assert log_info(client, log_id)["size"] == 0
        publish(ctx, session, log_id)
        append(session, log_id, 2)
        assert log_info(client, log_id)["size"] == 3


class TestCheckpoint:
    def test_verifies_with_the_listed_key_and_commits_to_the_entries(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 5)
        publish(ctx, session, log_id)
        response = client.get(f"/logs/{log_id}/checkpoint")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        info = log_info(client, log_id)
        origin, size, root = open_checkpoint(response.text, info["verifier_key"])
        assert (origin, size) == (info["origin"], 5)
        assert root == rfc_mth(leaves_of(client, log_id, 5))

    def test_a_changed_checkpoint_does_not_verify(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 2)
        publish(ctx, session, log_id)
        note = client.get(f"/logs/{log_id}/checkpoint").text.replace("\n2\n", "\n3\n", 1)
        assert open_checkpoint(note, log_info(client, log_id)["verifier_key"]) == ("", -1, b"")

    def test_no_checkpoint_yet_is_a_409(self, ctx: AppContext, session: Session, client: TestClient) -> None:
        log_id = new_log(ctx, session)
        assert_problem(client.get(f"/logs/{log_id}/checkpoint"), 409, "no-checkpoint")

    def test_unknown_log_is_a_404(self, client: TestClient) -> None:
        assert_problem(client.get("/logs/nope/checkpoint"), 404, "log-not-found")


class TestEntries:
    def test_pages_of_at_most_1000_up_to_the_published_size(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 1003)
        publish(ctx, session, log_id)
        append(session, log_id, 4)  # not published: never served

        def indexes(**params: int) -> list[int]:
            response = client.get(f"/logs/{log_id}/entries", params=params)
            assert response.status_code == 200
            return [e["index"] for e in response.json()["entries"]]

        assert indexes() == list(range(1000))
        assert indexes(start=0, end=1003) == list(range(1000))
        assert indexes(start=2, end=5) == [2, 3, 4]  # end exclusive
        assert indexes(start=1000) == [1000, 1001, 1002]
        assert indexes(start=1001, end=1007) == [1001, 1002]
        assert indexes(start=1003) == []
        assert indexes(start=5, end=3) == []

    def test_entries_are_the_leaves_with_their_hashes(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 4)
        publish(ctx, session, log_id)
        for entry in client.get(f"/logs/{log_id}/entries").json()["entries"]:
            leaf = base64.b64decode(entry["leaf"], validate=True)
            assert base64.b64decode(entry["leaf_hash"], validate=True) == rfc_leaf_hash(leaf)
            assert f'"seq":{entry["index"]},'.encode() in leaf
            assert f'"log":"{log_id}"'.encode() in leaf

    @pytest.mark.parametrize(
        "query",
        ["start=-1", "end=-1", "start=abc", "end=1.5", f"start={2**70}&end={2**70 + 3}"],
    )
    def test_bad_parameters_are_4xx_problems(
        self, ctx: AppContext, session: Session, client: TestClient, query: str
    ) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 2)
        publish(ctx, session, log_id)
        response = client.get(f"/logs/{log_id}/entries?{query}")
        if response.status_code == 200:  # a range past the end is an empty page, not an error
            assert response.json() == {"entries": []}
        else:
            assert_problem(response, 422)

    def test_unknown_log_is_a_404(self, client: TestClient) -> None:
        assert_problem(client.get("/logs/nope/entries"), 404, "log-not-found")


class TestProofs:
    SIZE = 13

    @pytest.fixture
    def small_tree(self, ctx: AppContext, session: Session, client: TestClient) -> tuple[str, list[bytes]]:
        """A log of SIZE entries with a checkpoint published at every size 1..SIZE."""
        log_id = new_log(ctx, session)
        for _ in range(self.SIZE):
            append(session, log_id, 1)
            publish(ctx, session, log_id)
        return log_id, leaves_of(client, log_id, self.SIZE)

    def test_inclusion_proofs_for_every_index_and_published_size(
        self, client: TestClient, small_tree: tuple[str, list[bytes]]
    ) -> None:
        log_id, leaves = small_tree
        key = log_info(client, log_id)["verifier_key"]
        for size in range(1, self.SIZE + 1):
            for index in range(size):
                body = client.get(
                    f"/logs/{log_id}/proof/inclusion", params={"index": index, "size": size}
                ).json()
                _, signed_size, root = open_checkpoint(body["checkpoint"], key)
                assert (body["index"], body["size"], signed_size) == (index, size, size)
                assert root == rfc_mth(leaves[:size])
                leaf_hash = base64.b64decode(body["leaf_hash"])
                assert leaf_hash == rfc_leaf_hash(leaves[index])
                proof = b64list(body["proof"])
                assert proof == rfc_path(index, leaves[:size])
                assert rfc_verify_inclusion(index, size, leaf_hash, proof, root)
                assert not rfc_verify_inclusion(index, size, rfc_leaf_hash(b"other"), proof, root)

    def test_consistency_proofs_for_every_pair_of_published_sizes(
        self, client: TestClient, small_tree: tuple[str, list[bytes]]
    ) -> None:
        log_id, leaves = small_tree
        key = log_info(client, log_id)["verifier_key"]
        for second in range(1, self.SIZE + 1):
            second_root = rfc_mth(leaves[:second])
            for first in range(1, second + 1):
                response = client.get(
                    f"/logs/{log_id}/proof/consistency", params={"first": first, "second": second}
                )
                body = response.json()
                _, signed_size, root = open_checkpoint(body["checkpoint"], key)
                assert (body["first"], body["second"], signed_size, root) == (
                    first,
                    second,
                    second,
                    second_root,
                )
                proof = b64list(body["proof"])
                assert proof == rfc_subproof(first, leaves[:second], True)
                if first == second:
                    assert proof == []
                else:
                    first_root = rfc_mth(leaves[:first])
                    assert rfc_verify_consistency(first, second, first_root, second_root, proof)
                    assert not rfc_verify_consistency(first, second, rfc_leaf_hash(b"x"), second_root, proof)

    def test_size_defaults_to_the_latest_checkpoint(
        self, ctx: AppContext, session: Session, client: TestClient, small_tree: tuple[str, list[bytes]]
    ) -> None:
        log_id, _ = small_tree
        append(session, log_id, 2)  # grown, not published
        inclusion = client.get(f"/logs/{log_id}/proof/inclusion", params={"index": 0}).json()
        consistency = client.get(f"/logs/{log_id}/proof/consistency", params={"first": 3}).json()
        assert inclusion["size"] == consistency["second"] == self.SIZE
        assert (
            inclusion["checkpoint"]
            == consistency["checkpoint"]
            == client.get(f"/logs/{log_id}/checkpoint").text
        )

    def test_unpublished_sizes_are_409(self, ctx: AppContext, session: Session, client: TestClient) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 4)
        publish(ctx, session, log_id)
        append(session, log_id, 4)
        assert_problem(
            client.get(f"/logs/{log_id}/proof/inclusion", params={"index": 0, "size": 6}),
            409,
            "no-checkpoint",
        )
        assert_problem(
            client.get(f"/logs/{log_id}/proof/consistency", params={"first": 2, "second": 8}),
            409,
            "no-checkpoint",
        )

    @pytest.mark.parametrize(
        ("path", "params"),
        [
            ("inclusion", {"index": 4}),  # index == size
            ("inclusion", {"index": 99, "size": 4}),
            ("inclusion", {"index": -1}),
            ("inclusion", {"index": 0, "size": 0}),
            ("inclusion", {"index": "x"}),
            ("inclusion", {}),
            ("inclusion", {"index": 2**70}),
            ("inclusion", {"index": 0, "size": 2**70}),
            ("consistency", {"first": 0}),
            ("consistency", {"first": 5}),  # first > second
            ("consistency", {"first": 2, "second": "y"}),
            ("consistency", {}),
            ("consistency", {"first": 2**70}),
        ],
    )
    def test_bad_parameters_are_4xx_problems(
        self, ctx: AppContext, session: Session, client: TestClient, path: str, params: dict[str, Any]
    ) -> None:
        log_id = new_log(ctx, session)
        append(session, log_id, 4)
        publish(ctx, session, log_id)
        response = client.get(f"/logs/{log_id}/proof/{path}", params=params)
        assert 400 <= response.status_code < 500
        assert_problem(response, response.status_code)

    def test_unknown_log_is_a_404(self, client: TestClient) -> None:
        assert_problem(client.get("/logs/nope/proof/inclusion", params={"index": 0}), 404, "log-not-found")
        assert_problem(client.get("/logs/nope/proof/consistency", params={"first": 1}), 404, "log-not-found")


class TestIndependentVerifierSelfCheck:
    """The verifier above must itself reject what RFC 9162 says to reject (or these tests prove nothing)."""

    def test_rejects_wrong_proofs(self) -> None:
        leaves = [bytes([i]) for i in range(7)]
        root = rfc_mth(leaves)
        proof = rfc_path(3, leaves)
        assert rfc_verify_inclusion(3, 7, rfc_leaf_hash(leaves[3]), proof, root)
        assert not rfc_verify_inclusion(2, 7, rfc_leaf_hash(leaves[3]), proof, root)
        assert not rfc_verify_inclusion(3, 7, rfc_leaf_hash(leaves[3]), proof[:-1], root)
        assert not rfc_verify_inclusion(7, 7, rfc_leaf_hash(leaves[3]), proof, root)
        consistency = rfc_subproof(3, leaves, True)
        assert rfc_verify_consistency(3, 7, rfc_mth(leaves[:3]), root, consistency)
        assert not rfc_verify_consistency(3, 7, rfc_mth(leaves[:4]), root, consistency)
        assert not rfc_verify_consistency(3, 7, rfc_mth(leaves[:3]), root, [])
