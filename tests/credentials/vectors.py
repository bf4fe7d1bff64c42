"""Location of the shared W3C test vectors (a missing folder fails the tests, never skips them)."""

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
EDDSA_JCS = VECTORS / "eddsa-jcs-2022"


def vector_text(name: str) -> str:
    path = EDDSA_JCS / name
    assert path.is_file(), f"missing test vector {path}: the shared vectors must be present"
    return path.read_text("utf-8")


def vector_json(name: str) -> Any:
    return json.loads(vector_text(name))
