"""RFC 9162 Merkle tree: hashing, stored-node proofs, an incremental appender and the verifiers.

How this works
--------------
The log never rebuilds its tree to answer a proof. It stores every *perfect* node once, when the node's
last leaf is appended: node ``(level, index)`` is the root of the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``, and level 0 holds the leaf hashes. A perfect node never
changes afterwards, so the store only grows (fewer than 2n nodes for n leaves) and any past tree size
can still be proven.

Every hash RFC 9162 puts into a root or a proof is the MTH of a leaf range ``[begin, end)`` taken from
the RFC's recursive split, so ``begin`` is a multiple of the smallest power of two >= ``end - begin``.
Such a range is a run of perfect nodes of strictly decreasing size (one per binary digit of
``end - begin``), and its MTH is those nodes hashed together from right to left: a tree that is not
complete is "hashed together from its perfect parts". Answering a proof therefore takes three steps:

1. :func:`inclusion_proof_ids`, :func:`consistency_proof_ids` or :func:`root_ids` list the perfect
   nodes that are needed (at most about 2 log2 n of them, because only the subtree on the right edge
   of the tree can be incomplete);
2. the caller fetches them in one batch (:meth:`NodeReader.get_nodes`: one SQL query);
3. :func:`build_inclusion_proof`, :func:`build_consistency_proof` or :func:`build_root` assemble the
   proof or root from those hashes.

:func:`inclusion_proof`, :func:`consistency_proof` and :func:`root` do all three against a reader.

Appending goes through a :class:`Frontier`: the perfect nodes along the right edge of the tree (one
per set bit of the size, so at most log2(n) + 1 hashes, small enough for one database row). Appending a
leaf merges equal-sized nodes like a binary counter carrying, and returns every perfect node it created
so the caller can store them; :meth:`Frontier.root` gives the new root without reading anything else.

The verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step, and are stricter about their
input: hashes must be 32 bytes, the proof must have exactly the expected length, a consistency proof
from size 0 or to a smaller size is rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeAlias

from creditbank.i18n import msg
from creditbank.standards.tlog.errors import NodeMissing, ProofInvalid, ProofRequestInvalid

HASH_SIZE = 32
"""Bytes in a SHA-256 hash: every leaf hash, node hash and root."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1)."""


NodeId: TypeAlias = tuple[int, int]
"""``(level, index)``: the perfect node over leaves ``[index * 2**level, (index + 1) * 2**level)``."""

StoredNode: TypeAlias = tuple[int, int, bytes]
"""``(level, index, hash)``: a perfect node created by an append, for the caller to store."""


class NodeReader(Protocol):
    """Where proofs read perfect nodes from (a database table, or :class:`MemoryNodeStore`)."""

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        """Return the hashes of those of ``ids`` that the store holds, in one batch read.

        A missing id is simply absent from the result; the caller raises :class:`NodeMissing`.
        """
        ...


# --- hashing -------------------------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || leaf)."""
    return hashlib.sha256(LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162's split: the largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- which perfect nodes a root or proof needs -----------------------------------------------------------


def range_ids(begin: int, end: int) -> list[NodeId]:
    """Return the perfect nodes that make up the leaf range ``[begin, end)``, left to right.

    Each step takes the largest perfect node that starts at ``begin`` and fits. For the ranges that RFC
    9162 hashes (see the module docstring) the nodes come out strictly decreasing in size.

    Raises:
        ValueError: ``begin`` is negative or ``end < begin``.
    """
    if begin < 0 or end < begin:
        raise ValueError(f"invalid leaf range [{begin}, {end})")
    ids: list[NodeId] = []
    while begin < end:
        # Largest level allowed by the alignment of begin, then by the room left.
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        while (1 << level) > end - begin:
            level -= 1
        ids.append((level, begin >> level))
        begin += 1 << level
    return ids


def _range_hash(nodes: Mapping[NodeId, bytes], begin: int, end: int) -> bytes:
    """MTH of the RFC 9162 subtree ``[begin, end)`` from its perfect parts, hashed right to left."""
    ids = range_ids(begin, end)
    try:
        hashes = [nodes[node] for node in ids]
    except KeyError as exc:
        raise NodeMissing(
            msg("detail.standards.tlog.merkle.node_level_index_missing", value=exc.args[0])
        ) from exc
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _ids_of(ranges: Iterable[tuple[int, int]]) -> list[NodeId]:
    ids: list[NodeId] = []
    for begin, end in ranges:
        ids.extend(range_ids(begin, end))
    return ids


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]), in proof order (leaf side first)."""
    if not 0 <= index < size:
        raise ProofRequestInvalid(
            msg("detail.standards.tlog.merkle.no_inclusion_proof_leaf", index=index, size=size)
        )
    ranges: list[tuple[int, int]] = []
    low, high = 0, size
    # Walk down from the root (RFC 9162 section 2.1.3.1); the root-side sibling comes last in the proof.
    while high - low > 1:
        k = _largest_power_of_two_below(high - low)
        if index < low + k:
            ranges.append((low + k, high))
            high = low + k
        else:
            ranges.append((low, low + k))
            low += k
    ranges.reverse()
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(first, D[0:second]), in proof order."""
    if not 0 < first <= second:
        raise ProofRequestInvalid(
            msg("detail.standards.tlog.merkle.no_consistency_proof_from", first=first, second=second)
        )
    ranges: list[tuple[int, int]] = []
    low, high = 0, second
    whole_old_tree = True  # SUBPROOF's flag b: is [low, high) still a prefix of the first tree's root?
    # Walk down from the root (RFC 9162 section 2.1.4.1) until the first tree's edge is a subtree.
    while first != high:
        k = _largest_power_of_two_below(high - low)
        if first <= low + k:
            ranges.append((low + k, high))
            high = low + k
        else:
            ranges.append((low, low + k))
            low += k
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((low, high))
    ranges.reverse()
    return ranges


def inclusion_proof_ids(index: int, size: int) -> list[NodeId]:
    """Return the perfect nodes needed for the inclusion proof of leaf ``index`` in a tree of ``size``.

    Raises:
        ProofRequestInvalid: ``index`` is not in ``[0, size)``.
    """
    return _ids_of(_inclusion_ranges(index, size))


def consistency_proof_ids(first: int, second: int) -> list[NodeId]:
    """Return the perfect nodes needed for the consistency proof from size ``first`` to ``second``.

    ``first == second`` needs no node (the proof is empty).

    Raises:
        ProofRequestInvalid: not ``0 < first <= second``.
    """
    return _ids_of(_consistency_ranges(first, second))


def root_ids(size: int) -> list[NodeId]:
    """Return the perfect nodes whose hashes make the root of a tree of ``size`` (none when empty).

    These are also the nodes of the tree's :class:`Frontier`.

    Raises:
        ProofRequestInvalid: ``size`` is negative.
    """
    if size < 0:
        raise ProofRequestInvalid(msg("detail.standards.tlog.merkle.tree_size_cannot_negative", size=size))
    return range_ids(0, size)


# --- assembling roots and proofs from fetched nodes ------------------------------------------------------


def build_inclusion_proof(index: int, size: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Assemble PATH(index, D[0:size]) from the hashes of :func:`inclusion_proof_ids`.

    Raises:
        ProofRequestInvalid: ``index`` is not in ``[0, size)``.
        NodeMissing: ``nodes`` lacks a needed node.
    """
    return [_range_hash(nodes, begin, end) for begin, end in _inclusion_ranges(index, size)]


def build_consistency_proof(first: int, second: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Assemble PROOF(first, D[0:second]) from the hashes of :func:`consistency_proof_ids`.

    Raises:
        ProofRequestInvalid: not ``0 < first <= second``.
        NodeMissing: ``nodes`` lacks a needed node.
    """
    return [_range_hash(nodes, begin, end) for begin, end in _consistency_ranges(first, second)]


def build_root(size: int, nodes: Mapping[NodeId, bytes]) -> bytes:
    """Assemble MTH(D[0:size]) from the hashes of :func:`root_ids` (:data:`EMPTY_ROOT` for size 0).

    Raises:
        ProofRequestInvalid: ``size`` is negative.
        NodeMissing: ``nodes`` lacks a needed node.
    """
    if size < 0:
        raise ProofRequestInvalid(msg("detail.standards.tlog.merkle.tree_size_cannot_negative", size=size))
    return _range_hash(nodes, 0, size) if size else EMPTY_ROOT


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """Read (in one batch) and assemble the inclusion proof of leaf ``index`` in a tree of ``size``.

    Raises:
        ProofRequestInvalid: ``index`` is not in ``[0, size)``.
        NodeMissing: the store lacks a node (for example ``size`` exceeds what it holds).
    """
    return build_inclusion_proof(index, size, reader.get_nodes(inclusion_proof_ids(index, size)))


def consistency_proof(reader: NodeReader, first: int, second: int) -> list[bytes]:
    """Read (in one batch) and assemble the consistency proof from size ``first`` to ``second``.

    Raises:
        ProofRequestInvalid: not ``0 < first <= second``.
        NodeMissing: the store lacks a node (for example ``second`` exceeds what it holds).
    """
    ids = consistency_proof_ids(first, second)
    return build_consistency_proof(first, second, reader.get_nodes(ids) if ids else {})


def root(reader: NodeReader, size: int) -> bytes:
    """Read (in one batch) and assemble the root of the tree of ``size`` leaves.

    Raises:
        ProofRequestInvalid: ``size`` is negative.
        NodeMissing: the store lacks a node (for example ``size`` exceeds what it holds).
    """
    ids = root_ids(size)
    return build_root(size, reader.get_nodes(ids) if ids else {})


# --- the incremental appender ---------------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


class Frontier:
    """The right edge of a tree: its perfect nodes :func:`root_ids` (size), largest first.

    Store it beside the tree size (``to_bytes`` / ``from_bytes``) so that appending needs no read of the
    node table; or rebuild it with :meth:`from_reader`.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Build the frontier of a tree of ``size`` leaves from its right-edge node hashes, largest first.

        Raises:
            ValueError: ``size`` is negative, the count of hashes is not the number of set bits of
                ``size``, or a hash is not 32 bytes.
        """
        if size < 0:
            raise ValueError(f"a tree size cannot be negative, got {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} frontier nodes, got {len(hashes)}"
            )
        for value in hashes:
            _check_hash(value, "a frontier hash")
        self._size = size
        self._hashes = [bytes(value) for value in hashes]

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The right-edge perfect node hashes, largest subtree first."""
        return tuple(self._hashes)

    def ids(self) -> list[NodeId]:
        """The ids of :attr:`hashes`, in the same order."""
        return range_ids(0, self._size)

    def to_bytes(self) -> bytes:
        """Serialise the hashes (32 bytes each, largest first); store the size beside them."""
        return b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild a frontier from :meth:`to_bytes` and its tree size.

        Raises:
            ValueError: ``data`` does not hold exactly the frontier of a tree of ``size``.
        """
        if len(data) != HASH_SIZE * size.bit_count():
            raise ValueError(
                f"a frontier of size {size} is {HASH_SIZE * size.bit_count()} bytes, got {len(data)}"
            )
        return cls(size, [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)])

    @classmethod
    def from_reader(cls, reader: NodeReader, size: int) -> Frontier:
        """Rebuild the frontier of the tree of ``size`` leaves from stored nodes (one batch read).

        Raises:
            ProofRequestInvalid: ``size`` is negative.
            NodeMissing: the store lacks a frontier node.
        """
        ids = root_ids(size)
        nodes = reader.get_nodes(ids) if ids else {}
        missing = [node for node in ids if node not in nodes]
        if missing:
            raise NodeMissing(msg("detail.standards.tlog.merkle.frontier_node_level_index", value=missing[0]))
        return cls(size, [nodes[node] for node in ids])

    def copy(self) -> Frontier:
        """An independent copy (appending to it leaves this one unchanged)."""
        return Frontier(self._size, self._hashes)

    def append(self, leaf_hash: bytes) -> list[StoredNode]:
        """Append one leaf hash; return every perfect node this creates, the leaf itself first.

        Raises:
            ValueError: ``leaf_hash`` is not 32 bytes.
        """
        _check_hash(leaf_hash, "a leaf hash")
        index = self._size
        created: list[StoredNode] = [(0, index, bytes(leaf_hash))]
        current = bytes(leaf_hash)
        level = 0
        # Like a binary counter carrying: each trailing 1 bit of the old size is a left sibling to merge.
        while (index >> level) & 1:
            current = node_hash(self._hashes.pop(), current)
            level += 1
            created.append((level, index >> level, current))
        self._hashes.append(current)
        self._size += 1
        return created

    def root(self) -> bytes:
        """The root of the tree: the frontier hashed together right to left (:data:`EMPTY_ROOT` if empty)."""
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            result = node_hash(left, result)
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"


def tree_levels(leaf_hashes: bytes) -> list[bytes]:
    """Every level of the Merkle tree over ``leaf_hashes`` (32-byte hashes concatenated in order): the
    perfect subtrees' hashes, in index order (what ``tlog_nodes`` stores). No levels for no leaves."""
    if not leaf_hashes:
        return []
    levels = [leaf_hashes]
    sha256 = hashlib.sha256
    pair = 2 * HASH_SIZE
    level = leaf_hashes
    while len(level) >= pair:
        level = b"".join(
            sha256(NODE_PREFIX + level[start : start + pair]).digest()
            for start in range(0, len(level) - pair + 1, pair)
        )
        levels.append(level)
    return levels


def root_from_levels(levels: Sequence[bytes], size: int) -> bytes:
    """The RFC 9162 root of the first ``size`` leaves, from the stored perfect subtrees of ``levels``:
    the subtrees of the binary decomposition of ``size``, left to right, folded from the right."""
    if size == 0:
        return EMPTY_ROOT
    parts: list[bytes] = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            idx = offset >> level
            parts.append(levels[level][idx * HASH_SIZE : (idx + 1) * HASH_SIZE])
            offset += 1 << level
    root = parts[-1]
    for part in reversed(parts[:-1]):
        root = node_hash(part, root)
    return root


class MemoryNodeStore:
    """A dict-based node store with its frontier: a :class:`NodeReader` for tests and benchmarks.

    ``batches`` and ``nodes_read`` count calls to :meth:`get_nodes` and the nodes they returned.
    """

    def __init__(self) -> None:
        self._nodes: dict[NodeId, bytes] = {}
        self._frontier = Frontier()
        self.batches = 0
        self.nodes_read = 0

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return self._frontier.size

    @property
    def frontier(self) -> Frontier:
        """A copy of the current frontier."""
        return self._frontier.copy()

    def __len__(self) -> int:
        """The number of stored nodes (perfect nodes of every level)."""
        return len(self._nodes)

    def append(self, leaf: bytes) -> int:
        """Hash ``leaf`` (:func:`leaf_hash`), append it and return its index."""
        return self.append_hash(leaf_hash(leaf))

    def append_hash(self, leaf_hash: bytes) -> int:
        """Append an already hashed leaf and return its index.

        Raises:
            ValueError: ``leaf_hash`` is not 32 bytes.
        """
        index = self._frontier.size
        for level, node_index, value in self._frontier.append(leaf_hash):
            self._nodes[(level, node_index)] = value
        return index

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append each of ``leaves`` (unhashed) in order."""
        for leaf in leaves:
            self.append(leaf)

    def get_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """Return the stored hashes of ``ids`` (absent ids are left out)."""
        self.batches += 1
        found = {
            (level, index): self._nodes[(level, index)]
            for level, index in ids
            if (level, index) in self._nodes
        }
        self.nodes_read += len(found)
        return found

    def root(self) -> bytes:
        """The root of the whole tree, from the frontier."""
        return self._frontier.root()


# --- verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ---------------------------------------------


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise ProofInvalid(
                msg(
                    "detail.standards.tlog.merkle.proof_hash_bytes",
                    position=position,
                    count=len(value),
                    HASH_SIZE=HASH_SIZE,
                )
            )


def _inclusion_proof_length(index: int, size: int) -> int:
    """Length of PATH(index, D[0:size]) for 0 <= index < size.

    The path has one hash per level where ``index`` and ``size - 1`` part (``inner``), plus one for each
    left sibling above that point, where both lie on the right edge (``border``).
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves whose MTH is ``root``.

    Raises:
        ProofInvalid: a hash is not 32 bytes, ``index`` is not in ``[0, size)``, the proof has the wrong
            length, or the recomputed root differs from ``root``.
    """
    if len(leaf_hash) != HASH_SIZE:
        raise ProofInvalid(
            msg(
                "detail.standards.tlog.merkle.leaf_hash_bytes",
                leaf_hash_count=len(leaf_hash),
                HASH_SIZE=HASH_SIZE,
            )
        )
    if len(root) != HASH_SIZE:
        raise ProofInvalid(
            msg("detail.standards.tlog.merkle.root_bytes", root_count=len(root), HASH_SIZE=HASH_SIZE)
        )
    _check_proof_hashes(proof)
    # 1. Compare the leaf index against the tree size.
    if not 0 <= index < size:
        raise ProofInvalid(msg("detail.standards.tlog.merkle.leaf_index_tree_size", index=index, size=size))
    expected = _inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise ProofInvalid(
            msg(
                "detail.standards.tlog.merkle.inclusion_proof_leaf_has",
                index=index,
                size=size,
                expected=expected,
                proof_count=len(proof),
            )
        )
    # 2. fn = leaf index, sn = tree size - 1; 3. r = the leaf hash.
    fn, sn = index, size - 1
    result = leaf_hash
    # 4. Fold in each proof hash, on the left or the right as fn's bits say.
    for p in proof:
        if sn == 0:
            raise ProofInvalid(msg("detail.standards.tlog.merkle.inclusion_proof_too_long"))
        if fn & 1 or fn == sn:
            result = node_hash(p, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            result = node_hash(result, p)
        fn >>= 1
        sn >>= 1
    # 5. The path must have reached the root, and the root must match.
    if sn != 0:
        raise ProofInvalid(msg("detail.standards.tlog.merkle.inclusion_proof_too_short"))
    if result != root:
        raise ProofInvalid(
            msg("detail.standards.tlog.merkle.inclusion_proof_leaf_does", index=index, size=size)
        )


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Check that the tree of ``second`` leaves with MTH ``second_root`` extends the one of ``first``.

    Equal sizes need an empty proof and equal roots (only equality is checked, as the published vectors
    require). Otherwise ``0 < first < second``, roots and proof hashes are 32 bytes.

    Raises:
        ProofInvalid: ``first`` is 0, ``second < first``, a hash is not 32 bytes, the proof has the wrong
            length, or the roots recomputed from it differ from ``first_root`` or ``second_root``.
    """
    if first < 0 or second < 0:
        raise ProofInvalid(
            msg("detail.standards.tlog.merkle.tree_sizes_cannot_negative", first=first, second=second)
        )
    if second < first:
        raise ProofInvalid(
            msg("detail.standards.tlog.merkle.second_tree_size_smaller", second=second, first=first)
        )
    if first == 0:
        raise ProofInvalid(msg("detail.standards.tlog.merkle.consistency_proof_from_empty"))
    if first == second:
        if proof:
            raise ProofInvalid(
                msg("detail.standards.tlog.merkle.equal_tree_sizes_need", proof_count=len(proof))
            )
        if first_root != second_root:
            raise ProofInvalid(msg("detail.standards.tlog.merkle.two_different_roots_same", first=first))
        return
    if len(first_root) != HASH_SIZE or len(second_root) != HASH_SIZE:
        raise ProofInvalid(
            msg(
                "detail.standards.tlog.merkle.roots_must_bytes_got",
                HASH_SIZE=HASH_SIZE,
                first_root_count=len(first_root),
                second_root_count=len(second_root),
            )
        )
    _check_proof_hashes(proof)
    # 1. An empty proof cannot link two different sizes.
    if not proof:
        raise ProofInvalid(
            msg("detail.standards.tlog.merkle.empty_proof_cannot_link", first=first, second=second)
        )
    shift = (first & -first).bit_length() - 1
    first_is_power_of_two = first == 1 << shift
    inner_index, inner_last = (first - 1) >> shift, (second - 1) >> shift
    expected = _inclusion_proof_length(inner_index, inner_last + 1) + (0 if first_is_power_of_two else 1)
    if len(proof) != expected:
        raise ProofInvalid(
            msg(
                "detail.standards.tlog.merkle.consistency_proof_from_has",
                first=first,
                second=second,
                expected=expected,
                proof_count=len(proof),
            )
        )
    # 2. If first is an exact power of 2, the first tree is itself a node of the second: prepend its root.
    path = [first_root, *proof] if first_is_power_of_two else list(proof)
    # 3. fn = first - 1, sn = second - 1; 4. skip the levels where the first tree's edge is a right child.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Both running hashes start from the first path value.
    first_hash = second_hash = path[0]
    # 6. Fold in the rest: left siblings go into both roots, right siblings only into the second.
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid(msg("detail.standards.tlog.merkle.consistency_proof_too_long"))
        if fn & 1 or fn == sn:
            first_hash = node_hash(c, first_hash)
            second_hash = node_hash(c, second_hash)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            second_hash = node_hash(second_hash, c)
        fn >>= 1
        sn >>= 1
    # 7. Both roots must match and the path must have reached the top.
    if sn != 0:
        raise ProofInvalid(msg("detail.standards.tlog.merkle.consistency_proof_too_short"))
    if first_hash != first_root:
        raise ProofInvalid(msg("detail.standards.tlog.merkle.consistency_proof_does_lead", first=first))
    if second_hash != second_root:
        raise ProofInvalid(msg("detail.standards.tlog.merkle.consistency_proof_does_lead_2", second=second))


def is_valid_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Return whether :func:`verify_inclusion` accepts; never raises for bad input."""
    try:
        verify_inclusion(leaf_hash, index, size, proof, root)
    except ProofInvalid:
        return False
    return True


def is_valid_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """Return whether :func:`verify_consistency` accepts; never raises for bad input."""
    try:
        verify_consistency(first, second, proof, first_root, second_root)
    except ProofInvalid:
        return False
    return True
