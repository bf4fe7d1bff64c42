"""The W3C and 1EdTech test vectors, copied with their licences into ``tests/vectors/`` (a missing
file fails the tests, never skips them)."""

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
EDDSA_JCS = VECTORS / "eddsa-jcs-2022"
EDDSA_RDFC = VECTORS / "eddsa-rdfc-2022"
PROOF_SET = VECTORS / "proof-set"
OPENBADGES_SCHEMAS = VECTORS / "openbadges-schemas"


def vector_text(name: str, folder: Path = EDDSA_JCS) -> str:
    path = folder / name
    assert path.is_file(), f"missing test vector {path}"
    return path.read_text("utf-8")


def vector_json(name: str, folder: Path = EDDSA_JCS) -> Any:
    return json.loads(vector_text(name, folder))
