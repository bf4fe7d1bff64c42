"""The W3C test vectors copied into tests/vectors (a missing file fails the tests, never skips them)."""

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
EDDSA_JCS = VECTORS / "eddsa-jcs-2022"


def vector_text(name: str) -> str:
    path = EDDSA_JCS / name
    assert path.is_file(), f"missing test vector {path}: tests/vectors must hold the published vectors"
    return path.read_text("utf-8")


def vector_json(name: str) -> Any:
    return json.loads(vector_text(name))
