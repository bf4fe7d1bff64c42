"""The stored-node Merkle code against an independent reference, with property tests.

``Reference`` below is written straight from the recursive definitions of RFC 9162 section 2.1 (MTH in
2.1.1, PATH in 2.1.3.1, PROOF/SUBPROOF in 2.1.4.1) using only ``hashlib``: it shares no code with
:mod:`creditbank.standards.tlog.merkle`, so agreeing with it is evidence, not a tautology.
"""

import hashlib
import math
from collections.abc import Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.standards.tlog.errors import NodeMissing, ProofInvalid, ProofRequestInvalid
from creditbank.standards.tlog.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryNodeStore,
    build_consistency_proof,
    build_inclusion_proof,
    build_root,
    consistency_proof,
    consistency_proof_ids,
    inclusion_proof,
    inclusion_proof_ids,
    is_valid_consistency,
    is_valid_inclusion,
    leaf_hash,
    node_hash,
    range_ids,
    root,
    root_from_levels,
    root_ids,
    tree_levels,
    verify_consistency,
    verify_inclusion,
)


class Reference:
    """Naive RFC 9162 MTH, PATH and PROOF over a list of leaves (memoised on leaf ranges)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.mth = cache(self._mth)

    @staticmethod
    def _split(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def _mth(self, begin: int, end: int) -> bytes:
        n = end - begin
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + self.leaves[begin]).digest()
        k = self._split(n)
        return hashlib.sha256(b"\x01" + self.mth(begin, begin + k) + self.mth(begin + k, end)).digest()

    def path(self, m: int, begin: int, end: int) -> list[bytes]:
        n = end - begin
        if n == 1:
            return []
        k = self._split(n)
        if m < k:
            return [*self.path(m, begin, begin + k), self.mth(begin + k, end)]
        return [*self.path(m - k, begin + k, end), self.mth(begin, begin + k)]

    def subproof(self, m: int, begin: int, end: int, whole: bool) -> list[bytes]:
        n = end - begin
        if m == n:
            return [] if whole else [self.mth(begin, end)]
        k = self._split(n)
        if m <= k:
            return [*self.subproof(m, begin, begin + k, whole), self.mth(begin + k, end)]
        return [*self.subproof(m - k, begin + k, end, False), self.mth(begin, begin + k)]

    def root(self, size: int) -> bytes:
        return self.mth(0, size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self.path(index, 0, size)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return self.subproof(first, 0, second, True)


def _leaves(n: int) -> list[bytes]:
    return [b"leaf %d" % i for i in range(n)]


def _store(n: int) -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.extend(_leaves(n))
    return store


BIG = 300
BIG_STORE = _store(BIG)
BIG_REFERENCE = Reference(_leaves(BIG))


class TestHashing:
    def test_leaf_and_node_prefixes(self) -> None:
        assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
        assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
        assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class TestRangeIds:
    def test_power_of_two_is_one_node(self) -> None:
        assert range_ids(0, 8) == [(3, 0)]
        assert range_ids(8, 16) == [(3, 1)]

    def test_incomplete_range_splits_in_decreasing_nodes(self) -> None:
        assert range_ids(0, 13) == [(3, 0), (2, 2), (0, 12)]
        assert range_ids(8, 11) == [(1, 4), (0, 10)]

    def test_empty_and_invalid(self) -> None:
        assert range_ids(5, 5) == []
        with pytest.raises(ValueError, match="invalid leaf range"):
            range_ids(3, 2)

    def test_root_ids_are_the_binary_digits_of_the_size(self) -> None:
        assert root_ids(0) == []
        assert root_ids(6) == [(2, 0), (1, 2)]
        assert [level for level, _ in root_ids(0b1011001)] == [6, 4, 3, 0]


class TestAgainstReferenceExhaustively:
    """Every root, inclusion proof and consistency proof of every size up to 70."""

    @pytest.mark.parametrize("size", range(71))
    def test_everything_for_size(self, size: int) -> None:
        store, ref = BIG_STORE, BIG_REFERENCE
        assert root(store, size) == ref.root(size)
        for index in range(size):
            proof = inclusion_proof(store, index, size)
            assert proof == ref.inclusion(index, size)
            verify_inclusion(leaf_hash(ref.leaves[index]), index, size, proof, ref.root(size))
        for first in range(1, size + 1):
            proof = consistency_proof(store, first, size)
            assert proof == ref.consistency(first, size)
            verify_consistency(first, size, proof, ref.root(first), ref.root(size))


class TestProperties:
    @settings(max_examples=200, deadline=None)
    @given(data=st.data(), size=st.integers(min_value=1, max_value=BIG))
    def test_inclusion_proofs_match_reference_and_verify(self, data: st.DataObject, size: int) -> None:
        index = data.draw(st.integers(min_value=0, max_value=size - 1))
        proof = inclusion_proof(BIG_STORE, index, size)
        assert proof == BIG_REFERENCE.inclusion(index, size)
        leaf = leaf_hash(BIG_REFERENCE.leaves[index])
        assert is_valid_inclusion(leaf, index, size, proof, BIG_REFERENCE.root(size))
        # The same proof must not pass for a neighbouring index or a different size.
        if size > 1:
            assert not is_valid_inclusion(leaf, (index + 1) % size, size, proof, BIG_REFERENCE.root(size))

    @settings(max_examples=200, deadline=None)
    @given(data=st.data(), second=st.integers(min_value=1, max_value=BIG))
    def test_consistency_proofs_match_reference_and_verify(self, data: st.DataObject, second: int) -> None:
        first = data.draw(st.integers(min_value=1, max_value=second))
        proof = consistency_proof(BIG_STORE, first, second)
        assert proof == BIG_REFERENCE.consistency(first, second)
        first_root, second_root = BIG_REFERENCE.root(first), BIG_REFERENCE.root(second)
        assert is_valid_consistency(first, second, proof, first_root, second_root)
        if first < second:
            assert not is_valid_consistency(first, second, proof, second_root, first_root)

    @settings(max_examples=200, deadline=None)
    @given(data=st.data(), size=st.integers(min_value=2, max_value=BIG))
    def test_any_flipped_bit_breaks_an_inclusion_proof(self, data: st.DataObject, size: int) -> None:
        index = data.draw(st.integers(min_value=0, max_value=size - 1))
        proof = inclusion_proof(BIG_STORE, index, size)
        position = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=255))
        damaged = bytearray(proof[position])
        damaged[bit // 8] ^= 1 << (bit % 8)
        proof[position] = bytes(damaged)
        leaf = leaf_hash(BIG_REFERENCE.leaves[index])
        assert not is_valid_inclusion(leaf, index, size, proof, BIG_REFERENCE.root(size))

    @settings(max_examples=50, deadline=None)
    @given(leaves=st.lists(st.binary(max_size=40), max_size=200))
    def test_frontier_root_equals_reference_after_every_append(self, leaves: list[bytes]) -> None:
        ref = Reference(leaves)
        frontier = Frontier()
        assert frontier.root() == ref.root(0)
        for size, leaf in enumerate(leaves, start=1):
            frontier.append(leaf_hash(leaf))
            assert frontier.root() == ref.root(size)
            assert len(frontier.hashes) == size.bit_count()

    @settings(max_examples=30, deadline=None)
    @given(sizes=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=3))
    def test_large_random_sizes(self, sizes: list[int]) -> None:
        store = _store(max(sizes))
        ref = Reference(_leaves(max(sizes)))
        for size in sizes:
            assert root(store, size) == ref.root(size)
            for index in {0, size // 2, size - 1}:
                assert inclusion_proof(store, index, size) == ref.inclusion(index, size)
            for first in {1, size // 2 or 1, size}:
                assert consistency_proof(store, first, size) == ref.consistency(first, size)


class TestLogarithmicReads:
    @pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 100, 255, 256, 257, 1000, 4097])
    def test_one_batch_of_o_log_n_nodes(self, size: int) -> None:
        store = _store(size)
        bound = 2 * math.ceil(math.log2(size)) + 1 if size > 1 else 1
        for index in sorted({0, 1 % size, size // 3, size // 2, size - 2 if size > 1 else 0, size - 1}):
            before_batches, before_nodes = store.batches, store.nodes_read
            inclusion_proof(store, index, size)
            assert store.batches - before_batches == 1
            assert store.nodes_read - before_nodes <= bound
        for first in sorted({1, size // 3 or 1, size // 2 or 1, size - 1 or 1}):
            before_batches, before_nodes = store.batches, store.nodes_read
            consistency_proof(store, first, size)
            assert store.batches - before_batches <= 1
            assert store.nodes_read - before_nodes <= bound

    def test_store_holds_each_perfect_node_once(self) -> None:
        for size in (0, 1, 7, 64, 1000):
            assert len(_store(size)) == 2 * size - size.bit_count()

    def test_ids_and_build_split_for_one_query(self) -> None:
        store = _store(21)
        ids = inclusion_proof_ids(5, 21)
        nodes = store.get_nodes(ids)
        assert build_inclusion_proof(5, 21, nodes) == inclusion_proof(store, 5, 21)
        ids = consistency_proof_ids(6, 21)
        assert build_consistency_proof(6, 21, store.get_nodes(ids)) == consistency_proof(store, 6, 21)
        assert build_root(21, store.get_nodes(root_ids(21))) == store.root()

    def test_past_sizes_stay_provable(self) -> None:
        store = _store(10)
        old_root = root(store, 10)
        store.extend(_leaves(50)[10:])
        assert root(store, 10) == old_root
        verify_consistency(10, 50, consistency_proof(store, 10, 50), old_root, store.root())


class TestProofRequests:
    def test_inclusion_outside_the_tree(self) -> None:
        for index, size in [(0, 0), (5, 5), (-1, 3)]:
            with pytest.raises(ProofRequestInvalid):
                inclusion_proof_ids(index, size)

    def test_consistency_bounds(self) -> None:
        for first, second in [(0, 5), (6, 5), (-1, 2)]:
            with pytest.raises(ProofRequestInvalid):
                consistency_proof_ids(first, second)
        assert consistency_proof_ids(4, 4) == []
        assert consistency_proof(_store(4), 4, 4) == []

    def test_root_of_negative_size(self) -> None:
        with pytest.raises(ProofRequestInvalid):
            root_ids(-1)
        with pytest.raises(ProofRequestInvalid):
            build_root(-1, {})

    def test_empty_tree_root(self) -> None:
        store = MemoryNodeStore()
        assert root(store, 0) == EMPTY_ROOT
        assert store.batches == 0

    def test_size_beyond_the_store_is_node_missing(self) -> None:
        store = _store(5)
        with pytest.raises(NodeMissing):
            inclusion_proof(store, 2, 6)
        with pytest.raises(NodeMissing):
            root(store, 9)
        with pytest.raises(NodeMissing):
            Frontier.from_reader(store, 6)

    def test_error_statuses(self) -> None:
        assert ProofInvalid.status == 422
        assert ProofInvalid.slug == "proof-invalid"
        assert ProofRequestInvalid.status == 422
        assert NodeMissing.status == 500
        problem = ProofInvalid("bad").to_problem()
        assert problem["type"].endswith("/proof-invalid")


class TestFrontier:
    def test_append_returns_every_new_perfect_node(self) -> None:
        frontier = Frontier()
        hashes = [leaf_hash(leaf) for leaf in _leaves(4)]
        assert [(lv, ix) for lv, ix, _ in frontier.append(hashes[0])] == [(0, 0)]
        assert [(lv, ix) for lv, ix, _ in frontier.append(hashes[1])] == [(0, 1), (1, 0)]
        assert [(lv, ix) for lv, ix, _ in frontier.append(hashes[2])] == [(0, 2)]
        created = frontier.append(hashes[3])
        assert [(lv, ix) for lv, ix, _ in created] == [(0, 3), (1, 1), (2, 0)]
        assert created[-1][2] == frontier.root() == Reference(_leaves(4)).root(4)

    def test_round_trips_through_bytes(self) -> None:
        store = _store(13)
        frontier = store.frontier
        data = frontier.to_bytes()
        assert len(data) == 32 * 3
        assert Frontier.from_bytes(13, data) == frontier
        assert Frontier.from_reader(store, 13) == frontier
        assert frontier.ids() == root_ids(13)
        assert Frontier.from_bytes(0, b"").root() == EMPTY_ROOT

    def test_rebuilt_frontier_continues_the_same_tree(self) -> None:
        store = _store(11)
        frontier = Frontier.from_bytes(11, store.frontier.to_bytes())
        for leaf in _leaves(20)[11:]:
            frontier.append(leaf_hash(leaf))
        assert frontier.root() == Reference(_leaves(20)).root(20)

    def test_copy_is_independent(self) -> None:
        frontier = _store(3).frontier
        other = frontier.copy()
        other.append(leaf_hash(b"x"))
        assert frontier.size == 3
        assert other.size == 4
        assert frontier != other

    def test_rejects_bad_input(self) -> None:
        with pytest.raises(ValueError, match="frontier nodes"):
            Frontier(3, [b"\x00" * 32])
        with pytest.raises(ValueError, match="32 bytes"):
            Frontier(1, [b"\x00" * 31])
        with pytest.raises(ValueError, match="bytes"):
            Frontier.from_bytes(3, b"\x00" * 32)
        with pytest.raises(ValueError, match="negative"):
            Frontier(-1)
        with pytest.raises(ValueError, match="leaf hash"):
            Frontier().append(b"short")


class TestVerifierStrictness:
    ref = Reference(_leaves(8))

    def test_inclusion_rejections(self) -> None:
        good = leaf_hash(self.ref.leaves[2])
        proof = self.ref.inclusion(2, 8)
        top = self.ref.root(8)
        verify_inclusion(good, 2, 8, proof, top)
        cases = [
            ((good[:31], 2, 8, proof, top), "leaf hash"),
            ((good, 8, 8, proof, top), "not in a tree"),
            ((good, -1, 8, proof, top), "not in a tree"),
            ((good, 2, 8, [*proof, proof[0]], top), "has 3 hashes"),
            ((good, 2, 8, proof[:-1], top), "has 3 hashes"),
            ((good, 2, 8, [proof[0][:16], *proof[1:]], top), "proof hash 0"),
            ((good, 2, 8, proof, top[:16]), "root is 16 bytes"),
            ((good, 2, 8, proof, self.ref.root(7)), "does not lead"),
        ]
        for args, message in cases:
            with pytest.raises(ProofInvalid, match=message):
                verify_inclusion(*args)

    def test_consistency_rejections(self) -> None:
        proof = self.ref.consistency(3, 8)
        r3, r8 = self.ref.root(3), self.ref.root(8)
        verify_consistency(3, 8, proof, r3, r8)
        cases = [
            ((0, 8, proof, EMPTY_ROOT, r8), "empty tree"),
            ((0, 0, [], EMPTY_ROOT, EMPTY_ROOT), "empty tree"),
            ((8, 3, proof, r8, r3), "smaller than"),
            ((8, 8, proof, r8, r8), "empty proof"),
            ((8, 8, [], r8, r3), "different roots"),
            ((3, 8, [], r3, r8), "empty proof"),
            ((3, 8, proof[:-1], r3, r8), "hashes, got"),
            ((3, 8, [*proof, r3], r3, r8), "hashes, got"),
            ((3, 8, proof, r3[:5], r8), "roots must be 32 bytes"),
            ((3, 8, proof, r8, r8), "root of size 3"),
            ((3, 8, proof, r3, r3), "root of size 8"),
            ((-3, 8, proof, r3, r8), "negative"),
        ]
        for args, message in cases:
            with pytest.raises(ProofInvalid, match=message):
                verify_consistency(*args)
        verify_consistency(8, 8, [], r8, r8)

    def test_power_of_two_first_size(self) -> None:
        proof = self.ref.consistency(4, 7)
        verify_consistency(4, 7, proof, self.ref.root(4), self.ref.root(7))
        assert proof == [self.ref.mth(4, 7)]  # the first root itself is implied, not sent


def test_the_levels_of_a_tree_give_every_stored_node_and_every_root() -> None:
    """``tree_levels`` (what ``audit database`` builds from the leaf hashes PostgreSQL computes) holds
    exactly the nodes a :class:`Frontier` stores, and ``root_from_levels`` every prefix's root."""
    frontier = Frontier()
    stored: dict[tuple[int, int], bytes] = {}
    roots = [frontier.root()]
    leaves = [leaf_hash(f"leaf {i}".encode()) for i in range(70)]
    for value in leaves:
        for level, idx, node in frontier.append(value):
            stored[(level, idx)] = node
        roots.append(frontier.root())
    levels = tree_levels(b"".join(leaves))
    found = {
        (level, idx): hashes[idx * 32 : (idx + 1) * 32]
        for level, hashes in enumerate(levels)
        for idx in range(len(hashes) // 32)
    }
    assert found == stored
    assert [root_from_levels(levels, size) for size in range(71)] == roots
    assert tree_levels(b"") == []
