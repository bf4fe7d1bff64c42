"""``creditbank audit checkpoint``: any C2SP checkpoint, ours or another ecosystem's.

Besides our own log's checkpoint, it must verify the Go checksum database's: a real signed tree head
published by sum.golang.org (origin ``go.sum database tree``, key ``sum.golang.org``: the key name is not
the origin), one we sign ourselves under that origin, and checkpoints signed with the Go note package's
test key from ``tests/vectors/signed-note/vectors.json``.
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner, Result

from creditbank.cli import app as cli
from creditbank.context import AppContext
from creditbank.ledger import service
from creditbank.standards.tlog.note import Checkpoint, NoteSigner, sign_note
from creditbank.transparency import store
from tests.ledger.factories import recognition

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "signed-note" / "vectors.json"

GO_SUMDB_KEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
"""The Go checksum database's verifier key, as built into the go command."""

GO_SUMDB_TREE = (
    "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n"
    "\u2014 sum.golang.org "
    "Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n"
)
"""A signed tree head served by sum.golang.org (the answer to a lookup of golang.org/x/sync@v0.1.0)."""


def _vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data


def _audit(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["audit", "checkpoint", *args], input=stdin)


def _write(tmp_path: Path, note: bytes | str, name: str = "checkpoint.txt") -> str:
    path = tmp_path / name
    path.write_bytes(note.encode() if isinstance(note, str) else note)
    return str(path)


class TestOtherEcosystems:
    def test_real_go_checksum_database_tree_head(self, tmp_path: Path) -> None:
        result = _audit(_write(tmp_path, GO_SUMDB_TREE), "--key", GO_SUMDB_KEY)
        assert result.exit_code == 0, result.output
        assert "signature: ok (sum.golang.org 033de0ae)" in result.stdout
        assert "origin: go.sum database tree" in result.stdout
        assert "size: 65209736" in result.stdout
        assert "root: 5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=" in result.stdout

    def test_real_tree_head_with_a_changed_size_fails(self, tmp_path: Path) -> None:
        forged = GO_SUMDB_TREE.replace("65209736", "65209737")
        result = _audit(_write(tmp_path, forged), "--key", GO_SUMDB_KEY)
        assert result.exit_code == 1
        assert "signature: FAILED" in result.stderr

    def test_self_signed_go_sum_origin_with_extensions_and_a_witness(self, tmp_path: Path) -> None:
        log = NoteSigner.generate("sum.golang.example")
        witness = NoteSigner.generate("witness.example/w1")
        root = hashlib.sha256(b"some tree").digest()
        text = Checkpoint("go.sum database tree", 42, root, ("ext line 1",)).format()
        path = _write(tmp_path, sign_note(text, [log, witness]))
        result = _audit(path, "--key", log.verifier().to_text(), "--origin", "go.sum database tree")
        assert result.exit_code == 0, result.output
        assert f"root: {base64.b64encode(root).decode()} (hex {root.hex()})" in result.stdout
        assert "extension: ext line 1" in result.stdout
        # another origin than the one required
        assert _audit(path, "--key", log.verifier().to_text(), "--origin", "example.com/log").exit_code == 1
        # signed only by a key we were not given
        only_witness = _audit(path, "--key", NoteSigner.generate("sum.golang.example").verifier().to_text())
        assert only_witness.exit_code == 1 and "no signature from a known key" in only_witness.stderr

    def test_go_note_test_key_from_the_vectors(self, tmp_path: Path) -> None:
        [vector] = _vectors()["sign"]
        signer = NoteSigner.parse(vector["private_key"])
        text = Checkpoint(signer.name, 7, bytes(32)).format()
        result = _audit(_write(tmp_path, sign_note(text, [signer])), "--key", vector["verifier_key"])
        assert result.exit_code == 0, result.output
        assert "origin: PeterNeumann" in result.stdout

    def test_a_verifiable_note_that_is_not_a_checkpoint(self, tmp_path: Path) -> None:
        [vector] = [v for v in _vectors()["verify"] if v["valid"]]
        result = _audit(_write(tmp_path, vector["note"]), "--key", vector["verifier_key"])
        assert result.exit_code == 1
        assert "signature: ok, but not a valid checkpoint" in result.stderr


class TestOwnLog:
    def test_served_checkpoint_verifies_with_the_listed_key(
        self, ctx: AppContext, session: Session, client: TestClient, tmp_path: Path
    ) -> None:
        service.record_recognitions(session, [recognition(), recognition()])
        store.publish_checkpoint(session, ctx.secrets.master_key, "main")
        [info] = [log for log in client.get("/logs").json() if log["id"] == "main"]
        note = client.get("/logs/main/checkpoint").content
        result = _audit(_write(tmp_path, note), "--key", info["verifier_key"], "--origin", info["origin"])
        assert result.exit_code == 0, result.output
        assert f"size: {info['size']}" in result.stdout

    def test_standard_input(self, tmp_path: Path) -> None:
        signer = NoteSigner.generate("example.com/log")
        note = sign_note(Checkpoint("example.com/log", 1, bytes(32)).format(), [signer])
        assert _audit("-", "--key", signer.verifier().to_text(), stdin=note).exit_code == 0


class TestUsageErrors:
    @pytest.mark.parametrize(
        "key",
        [
            "not a key",
            "sum.golang.org+033de0ae",
            "sum.golang.org+00000000+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",  # wrong key id
        ],
    )
    def test_malformed_key_exits_2(self, tmp_path: Path, key: str) -> None:
        result = _audit(_write(tmp_path, GO_SUMDB_TREE), "--key", key)
        assert result.exit_code == 2 and "bad verifier key" in result.stderr

    def test_missing_file_exits_2(self, tmp_path: Path) -> None:
        result = _audit(str(tmp_path / "absent.txt"), "--key", GO_SUMDB_KEY)
        assert result.exit_code == 2 and "cannot read" in result.stderr

    def test_garbage_exits_1(self, tmp_path: Path) -> None:
        result = _audit(_write(tmp_path, b"\x00\x01 not a note"), "--key", GO_SUMDB_KEY)
        assert result.exit_code == 1 and "signature: FAILED" in result.stderr
