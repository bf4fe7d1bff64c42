"""C2SP signed notes and checkpoints: the published vectors, the parsing rules and the rejections.

Vectors are read from ``tests/vectors/signed-note/vectors.json``; a missing file fails the run.
"""

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.standards.tlog.errors import CheckpointInvalid, NoteInvalid, NoteKeyInvalid
from creditbank.standards.tlog.merkle import MemoryNodeStore, inclusion_proof, leaf_hash, verify_inclusion
from creditbank.standards.tlog.note import (
    MAX_SIGNATURES,
    Checkpoint,
    KeyId,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    is_valid_key_name,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
NOTE_VECTORS = VECTORS / "signed-note" / "vectors.json"
EM_DASH = "\u2014"


def _vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(NOTE_VECTORS.read_text(encoding="utf-8"))
    return data


def _signer(name: str = "log.example/a", seed: int = 1) -> NoteSigner:
    return NoteSigner(name, bytes([seed]) * 32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class TestVectors:
    def test_vector_file_exists(self) -> None:
        assert NOTE_VECTORS.is_file(), f"test vectors missing: {NOTE_VECTORS}"

    def test_signer_reproduces_the_vector_byte_for_byte(self) -> None:
        for case in _vectors()["sign"]:
            signer = NoteSigner.parse(case["private_key"])
            note = sign_note(case["text"], [signer])
            assert note == (case["text"] + "\n" + case["signature_line"]).encode("utf-8")

    def test_key_texts_round_trip(self) -> None:
        for case in _vectors()["sign"]:
            signer = NoteSigner.parse(case["private_key"])
            assert "+" in case["private_key"].split("+", 4)[4]  # the base64 part itself holds a '+'
            assert signer.to_text() == case["private_key"]
            assert signer.verifier().to_text() == case["verifier_key"]
            assert NoteVerifier.parse(case["verifier_key"]) == signer.verifier()
            assert signer.key_id.hex() == case["verifier_key"].split("+")[1]

    def test_signed_vector_opens(self) -> None:
        for case in _vectors()["sign"]:
            note = (case["text"] + "\n" + case["signature_line"]).encode("utf-8")
            opened = open_note(note, [NoteVerifier.parse(case["verifier_key"])])
            assert opened.text == case["text"]
            assert [sig.line() for sig in opened.signatures] == [case["signature_line"]]

    def test_verify_vectors(self) -> None:
        for case in _vectors()["verify"]:
            verifier = NoteVerifier.parse(case["verifier_key"])
            if case["valid"]:
                text, signatures = open_note(case["note"].encode("utf-8"), [verifier])
                assert case["note"].startswith(text + "\n" + EM_DASH)
                assert [sig.name for sig in signatures] == [verifier.name]
            else:
                with pytest.raises(NoteInvalid):
                    open_note(case["note"].encode("utf-8"), [verifier])

    def test_key_id_formula(self) -> None:
        verifier = NoteVerifier.parse(_vectors()["verify"][0]["verifier_key"])
        assert key_id(verifier.name, verifier.public_key) == KeyId(bytes.fromhex("530d903a"))


class TestKeyText:
    good = _signer().verifier().to_text()

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "name-only",
            "name+530d903a",
            "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "bad name+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+630d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
            "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2l",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv",
        ],
    )
    def test_bad_verifier_text(self, text: str) -> None:
        with pytest.raises(NoteKeyInvalid):
            NoteVerifier.parse(text)

    def test_uppercase_key_id_is_accepted(self) -> None:
        name, ident, key = self.good.split("+", 2)
        assert NoteVerifier.parse(f"{name}+{ident.upper()}+{key}").to_text() == self.good

    @pytest.mark.parametrize(
        "text",
        [
            "PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+Peter Neumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE+KEY+PeterNeumann+c74f20a3",
        ],
    )
    def test_bad_signer_text(self, text: str) -> None:
        with pytest.raises(NoteKeyInvalid):
            NoteSigner.parse(text)

    def test_names(self) -> None:
        assert is_valid_key_name("example.com/log-2025")
        for bad in ["", "a b", "a+b", "a\u00a0b", "a\tb", "a\u2003b"]:
            assert not is_valid_key_name(bad)
            with pytest.raises(NoteKeyInvalid):
                NoteSigner(bad, b"\x00" * 32)

    def test_key_sizes(self) -> None:
        with pytest.raises(NoteKeyInvalid):
            NoteSigner("a", b"\x00" * 31)
        with pytest.raises(NoteKeyInvalid):
            NoteVerifier("a", b"\x00" * 33)

    def test_generated_keys_work_and_hide_the_seed(self) -> None:
        signer = NoteSigner.generate("log.example/x")
        assert signer.seed.hex() not in repr(signer)
        assert NoteSigner.parse(signer.to_text()) == signer
        note = sign_note("hello\n", [signer])
        assert open_note(note, [NoteVerifier.parse(signer.verifier().to_text())]).text == "hello\n"


class TestOpenNote:
    alice = _signer("alice.example", 1)
    bob = _signer("bob.example", 2)

    def test_several_signers_all_verified(self) -> None:
        note = sign_note("text\n", [self.alice, self.bob])
        text, signatures = open_note(note, [self.alice.verifier(), self.bob.verifier()])
        assert text == "text\n"
        assert [sig.name for sig in signatures] == ["alice.example", "bob.example"]

    def test_unknown_signatures_are_ignored(self) -> None:
        note = sign_note("text\n", [self.bob, self.alice])
        _, signatures = open_note(note, [self.alice.verifier()])
        assert [sig.name for sig in signatures] == ["alice.example"]

    def test_same_name_other_key_is_unknown_not_invalid(self) -> None:
        impostor = NoteSigner("alice.example", b"\x09" * 32)
        note = sign_note("text\n", [impostor, self.alice])
        _, signatures = open_note(note, [self.alice.verifier()])
        assert signatures[0].key_id == self.alice.key_id
        with pytest.raises(NoteInvalid, match="no signature from a known key"):
            open_note(sign_note("text\n", [impostor]), [self.alice.verifier()])

    def test_same_key_id_other_name_is_unknown(self) -> None:
        forged = NoteSignature("mallory.example", self.alice.key_id, self.alice.sign(b"text\n"))
        note = ("text\n\n" + forged.line()).encode()
        with pytest.raises(NoteInvalid, match="no signature from a known key"):
            open_note(note, [self.alice.verifier()])

    def test_no_known_key_is_rejected(self) -> None:
        with pytest.raises(NoteInvalid, match="no signature from a known key"):
            open_note(sign_note("text\n", [self.bob]), [self.alice.verifier()])
        with pytest.raises(NoteInvalid):
            open_note(sign_note("text\n", [self.bob]), [])

    def test_a_failing_known_signature_rejects_the_note(self) -> None:
        note = sign_note("text\n", [self.alice]).replace(b"text", b"TEXT")
        with pytest.raises(NoteInvalid, match="does not verify"):
            open_note(note, [self.alice.verifier()])
        good = sign_note("text\n", [self.alice])
        bad_bob = NoteSignature(self.bob.name, self.bob.key_id, b"\x00" * 64).line().encode()
        with pytest.raises(NoteInvalid, match="does not verify"):
            open_note(good + bad_bob, [self.alice.verifier(), self.bob.verifier()])

    def test_repeated_signature_counts_once(self) -> None:
        note = sign_note("text\n", [self.alice])
        line = note.split(b"\n\n", 1)[1]
        _, signatures = open_note(note + line, [self.alice.verifier()])
        assert len(signatures) == 1

    def test_text_may_hold_blank_lines(self) -> None:
        text = "para one\n\npara two\n\n"
        note = sign_note(text, [self.alice])
        assert open_note(note, [self.alice.verifier()]).text == text

    def test_signature_block_is_after_the_last_blank_line(self) -> None:
        note = sign_note("text\n", [self.alice]) + b"\n" + sign_note("x\n", [self.bob]).split(b"\n\n")[1]
        with pytest.raises(NoteInvalid):
            open_note(note, [self.alice.verifier()])

    def _note(self) -> bytes:
        return sign_note("text\n", [self.alice])

    @pytest.mark.parametrize(
        ("mutate", "message"),
        [
            (lambda n: n.replace(b"\n\n", b"\n"), "blank line"),
            (lambda n: n[:-1], "end with signature lines"),
            (lambda n: n.split(b"\n\n")[0] + b"\n\n", "end with signature lines"),
            (lambda n: n.replace("—".encode(), b"-"), "em dash"),
            (lambda n: n.replace("—".encode(), "–".encode()), "em dash"),
            (lambda n: n.replace("— ".encode(), "—".encode()), "em dash"),
            (lambda n: n.replace(b"alice.example ", b"alice.example  "), "not base64"),
            (lambda n: n.replace(b"alice.example ", b"alice.example\xc2\xa0"), "bad key name"),
            (lambda n: n.replace(b"alice.example ", b"alice+x.example "), "bad key name"),
            (lambda n: n.replace(b"alice.example ", b" "), "bad key name"),
            (lambda n: n[:-2] + b"!\n", "not base64"),
            (lambda n: n.replace(b"text\n", b"te\txt\n"), "control characters"),
            (lambda n: n.replace(b"text\n", b"text\r\n"), "control characters"),
            (lambda n: n.replace(b"text", b"t\xffxt"), "UTF-8"),
        ],
    )
    def test_malformed_notes(self, mutate: Any, message: str) -> None:
        with pytest.raises(NoteInvalid, match=message):
            open_note(mutate(self._note()), [self.alice.verifier()])

    def test_short_and_non_canonical_signatures(self) -> None:
        short = f"text\n\n{EM_DASH} alice.example {_b64(self.alice.key_id)}\n".encode()
        with pytest.raises(NoteInvalid, match="too short"):
            open_note(short, [self.alice.verifier()])
        line = self._note().split(b"\n\n")[1].decode()
        encoded = line.rsplit(" ", 1)[1].strip()
        unpadded = f"text\n\n{EM_DASH} alice.example {encoded.rstrip('=')}\n".encode()
        with pytest.raises(NoteInvalid, match="not base64"):
            open_note(unpadded, [self.alice.verifier()])

    def test_too_many_signatures(self) -> None:
        note = sign_note("text\n", [self.alice])
        extra = NoteSignature("other.example", KeyId(b"\x00\x00\x00\x01"), b"\x00" * 64).line().encode()
        open_note(note + extra * (MAX_SIGNATURES - 1), [self.alice.verifier()])
        with pytest.raises(NoteInvalid, match="at most"):
            open_note(note + extra * MAX_SIGNATURES, [self.alice.verifier()])

    def test_conflicting_verifiers(self) -> None:
        alice_id = self.alice.key_id

        class Colliding(NoteVerifier):
            """A different key that claims Alice's key ID (a collision an attacker could compute)."""

            @property
            def key_id(self) -> KeyId:
                return alice_id

        open_note(self._note(), [self.alice.verifier(), self.alice.verifier()])  # identical: fine
        with pytest.raises(NoteKeyInvalid, match="share"):
            open_note(self._note(), [self.alice.verifier(), Colliding(self.alice.name, self.bob.public_key)])


class TestSignNote:
    def test_text_rules(self) -> None:
        signer = _signer()
        for text in ["", "no newline", "tab\there\n", "cr\r\n"]:
            with pytest.raises(NoteInvalid):
                sign_note(text, [signer])
        with pytest.raises(NoteInvalid, match="not valid Unicode"):
            sign_note("\udc80\n", [signer])

    def test_signer_rules(self) -> None:
        with pytest.raises(NoteInvalid, match="at least one signer"):
            sign_note("x\n", [])
        with pytest.raises(NoteInvalid, match="share"):
            sign_note("x\n", [_signer(), _signer()])

    @settings(max_examples=50, deadline=None)
    @given(st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]) | st.just("\n")))
    def test_round_trip(self, body: str) -> None:
        signer = _signer()
        text = body + "\n"
        opened = open_note(sign_note(text, [signer]), [signer.verifier()])
        assert opened.text == text


ROOT = bytes(range(32))


class TestCheckpoint:
    def test_format(self) -> None:
        checkpoint = Checkpoint("log.example/credits", 42, ROOT)
        assert checkpoint.format() == f"log.example/credits\n42\n{_b64(ROOT)}\n"
        with_ext = Checkpoint("o", 0, ROOT, ("ext one", "ext two"))
        assert with_ext.format().endswith("\next one\next two\n")

    def test_parse_round_trip(self) -> None:
        for checkpoint in [Checkpoint("o", 0, ROOT), Checkpoint("a b", 2**64 - 1, ROOT, ("x",))]:
            assert Checkpoint.parse(checkpoint.format()) == checkpoint

    def test_c2sp_example(self) -> None:
        text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        checkpoint = Checkpoint.parse(text)
        assert checkpoint.origin == "example.com/behind-the-sofa"
        assert checkpoint.size == 20852163
        assert checkpoint.format() == text

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "o\n1\n",
            f"o\n1\n{_b64(ROOT)}",
            f"\n1\n{_b64(ROOT)}\n",
            f"o\n01\n{_b64(ROOT)}\n",
            f"o\n+1\n{_b64(ROOT)}\n",
            f"o\n-1\n{_b64(ROOT)}\n",
            f"o\n 1\n{_b64(ROOT)}\n",
            f"o\n1.0\n{_b64(ROOT)}\n",
            f"o\n\u0661\n{_b64(ROOT)}\n",
            f"o\n{2**64}\n{_b64(ROOT)}\n",
            f"o\n1\n{_b64(ROOT[:31])}\n",
            f"o\n1\n{_b64(ROOT).rstrip('=')}\n",
            f"o\n1\n{_b64(ROOT)[:-2]}B=\n",
            f"o\n1\n{_b64(ROOT)}\n\n",
            f"o\n1\n{_b64(ROOT)}\next\n\n",
            f"o\n1\n{_b64(ROOT)}\n\next\n",
            f"o\t\n1\n{_b64(ROOT)}\n",
        ],
    )
    def test_rejects(self, text: str) -> None:
        with pytest.raises(CheckpointInvalid):
            Checkpoint.parse(text)

    def test_constructor_validates(self) -> None:
        for args in [("", 1, ROOT), ("o\nx", 1, ROOT), ("o", -1, ROOT), ("o", 1, ROOT[:5])]:
            with pytest.raises(CheckpointInvalid):
                Checkpoint(*args)
        with pytest.raises(CheckpointInvalid):
            Checkpoint("o", 1, ROOT, ("",))
        with pytest.raises(CheckpointInvalid):
            Checkpoint("o", True, ROOT)

    def test_sign_and_open_with_a_cosigner(self) -> None:
        log = _signer("log.example/credits", 7)
        witness = _signer("witness.example", 8)
        checkpoint = Checkpoint(log.name, 3, ROOT)
        note = sign_checkpoint(checkpoint, log, witness)
        assert open_checkpoint(note, log.verifier()) == checkpoint
        with pytest.raises(NoteInvalid):
            open_checkpoint(note, _signer("log.example/credits", 9).verifier())

    def test_log_key_must_be_named_after_the_origin(self) -> None:
        with pytest.raises(NoteKeyInvalid):
            sign_checkpoint(Checkpoint("other.example", 1, ROOT), _signer("log.example", 7))
        log = _signer("log.example", 7)
        note = sign_note(Checkpoint("other.example", 1, ROOT).format(), [log])
        with pytest.raises(CheckpointInvalid, match="origin"):
            open_checkpoint(note, log.verifier())

    def test_a_proof_checks_out_against_an_opened_checkpoint(self) -> None:
        store = MemoryNodeStore()
        leaves = [b"tx %d" % i for i in range(11)]
        store.extend(leaves)
        log = _signer("log.example/credits", 7)
        note = sign_checkpoint(Checkpoint(log.name, store.size, store.root()), log)
        checkpoint = open_checkpoint(note, NoteVerifier.parse(log.verifier().to_text()))
        proof = inclusion_proof(store, 4, checkpoint.size)
        verify_inclusion(leaf_hash(leaves[4]), 4, checkpoint.size, proof, checkpoint.root_hash)


def test_error_statuses() -> None:
    for error, slug in [
        (NoteInvalid, "note-invalid"),
        (NoteKeyInvalid, "note-key-invalid"),
        (CheckpointInvalid, "checkpoint-invalid"),
    ]:
        assert error.status == 422
        assert error.slug == slug
