"""The verifiers against the 196 published RFC 9162 proof cases and the classic RFC 6962 roots.

The cases live in ``tests/vectors/rfc9162-merkle/`` (from transparency-dev/merkle ``testdata/``); each
names its expected verdict in ``wantErr``. A missing vectors folder fails the run rather than skipping.
"""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from creditbank.standards.tlog.errors import ProofInvalid
from creditbank.standards.tlog.merkle import (
    MemoryNodeStore,
    is_valid_consistency,
    is_valid_inclusion,
    root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
MERKLE_VECTORS = VECTORS / "rfc9162-merkle"
EXPECTED_CASES = 196


def _case_files() -> list[Path]:
    return sorted(MERKLE_VECTORS.glob("*/**/*.json"))


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(MERKLE_VECTORS)) for path in paths]


CASES = _case_files()


class TestVectorFolder:
    def test_folder_exists(self) -> None:
        assert MERKLE_VECTORS.is_dir(), f"test vectors missing: {MERKLE_VECTORS}"

    def test_all_cases_are_found(self) -> None:
        assert len(CASES) == EXPECTED_CASES
        kinds = {path.relative_to(MERKLE_VECTORS).parts[0] for path in CASES}
        assert kinds == {"inclusion", "consistency"}
        assert any("single-entry" in path.parts for path in CASES)
        assert any("additional" in path.parts for path in CASES)


@pytest.mark.parametrize("path", CASES, ids=_ids(CASES))
def test_vector_verdict(path: Path) -> None:
    case = _load(path)
    proof = [_b64(item) for item in case["proof"] or []]  # Go writes an empty proof as null
    if path.relative_to(MERKLE_VECTORS).parts[0] == "inclusion":
        args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, _b64(case["root"]))
        valid = is_valid_inclusion(*args)
        if not valid:
            with pytest.raises(ProofInvalid):
                verify_inclusion(*args)
    else:
        cargs = (case["size1"], case["size2"], proof, _b64(case["root1"]), _b64(case["root2"]))
        valid = is_valid_consistency(*cargs)
        if not valid:
            with pytest.raises(ProofInvalid):
                verify_consistency(*cargs)
    assert valid is not case["wantErr"], case["desc"]


CLASSIC_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
CLASSIC_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


class TestClassicRoots:
    def test_readme_lists_the_same_roots(self) -> None:
        readme = (MERKLE_VECTORS / "README.md").read_text(encoding="utf-8")
        for size, expected in enumerate(CLASSIC_ROOTS):
            assert f"{size} {expected}" in readme

    @pytest.mark.parametrize("size", range(len(CLASSIC_ROOTS)))
    def test_root_by_size(self, size: int) -> None:
        store = MemoryNodeStore()
        store.extend(bytes.fromhex(leaf) for leaf in CLASSIC_LEAVES)
        assert root(store, size).hex() == CLASSIC_ROOTS[size]

    def test_frontier_root_after_each_append(self) -> None:
        store = MemoryNodeStore()
        assert store.root().hex() == CLASSIC_ROOTS[0]
        for size, leaf in enumerate(CLASSIC_LEAVES, start=1):
            store.append(bytes.fromhex(leaf))
            assert store.root().hex() == CLASSIC_ROOTS[size]
