"""C2SP signed notes (Ed25519) and tlog checkpoints.

How this works
--------------
A signed note (https://c2sp.org/signed-note) is UTF-8 text ending in a newline, a blank line, then one
or more signature lines ``— <key name> <base64(4-byte key ID || signature)>\\n`` (an em dash U+2014 and
a space first). Each signature covers the text including its final newline. The blank line that
separates text and signatures is the *last* empty line of the note, so the text itself may hold empty
lines.

A key is named by the pair (key name, key ID), where for Ed25519 the key ID is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``. Keys travel as text, as in Go's
``golang.org/x/mod/sumdb/note``:

- verifier key ``<name>+<hex key ID>+<base64(0x01 || public key)>``;
- signer key ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>``.

Names never contain ``+``, but base64 may, so the text is split on ``+`` a bounded number of times.

:func:`open_note` ignores signatures from unknown keys (a key is known only if both its name and ID
match), rejects the whole note if a known key's signature fails, and rejects a note that no known key
signed. Malformed notes (control characters, no blank line, a line that is not a signature, bad base64,
a bad key name, more than :data:`MAX_SIGNATURES` signatures) are rejected before any verification.
Base64 must be canonical standard base64 everywhere.

A checkpoint (https://c2sp.org/tlog-checkpoint) is a note whose text is ``<origin>\\n<size>\\n<base64
root>\\n`` followed by optional non-empty extension lines; the log signs it with the key named after its
origin. Signatures use :mod:`creditbank.crypto.signing` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, NewType

from creditbank.crypto import KeyFormatError, SignatureInvalid, signing
from creditbank.i18n import msg
from creditbank.standards.tlog.errors import CheckpointInvalid, NoteInvalid, NoteKeyInvalid

KeyId = NewType("KeyId", bytes)
"""The 4-byte key ID that, with the key name, identifies a note key."""

ED25519_TYPE = 0x01
"""Signature type byte of Ed25519 in C2SP signed-note."""

KEY_ID_SIZE = 4
SIGNATURE_PREFIX = "\u2014 "
"""Every signature line starts with an em dash and a space."""

MAX_SIGNATURES = 100
"""More signature lines than this make a note malformed (C2SP asks verifiers to accept at least 16)."""

ROOT_HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


# --- helpers ---------------------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    """Decode canonical standard base64; raise ``ValueError`` for anything else."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def is_valid_key_name(name: str) -> bool:
    """Whether ``name`` may name a note key: non-empty, no Unicode space, no ``+``, no control character."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) and not _CONTROL.search(name)


def key_id(name: str, public_key: bytes, key_type: int = ED25519_TYPE) -> KeyId:
    """Return the C2SP key ID SHA-256(name || 0x0A || type || public key)[:4]."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key).digest()
    return KeyId(digest[:KEY_ID_SIZE])


def _check_name(name: str) -> None:
    if not is_valid_key_name(name):
        raise NoteKeyInvalid(msg("detail.standards.tlog.note.invalid_key_name_must", name=name))


def _parse_key_id(text: str) -> KeyId:
    if not _HEX_KEY_ID.fullmatch(text):
        raise NoteKeyInvalid(msg("detail.standards.tlog.note.key_id_hex_digits", text=text))
    return KeyId(bytes.fromhex(text))


def _parse_typed_key(text: str, what: str) -> bytes:
    """Decode ``base64(0x01 || 32 bytes)`` and return the 32 bytes."""
    try:
        raw = _b64decode(text)
    except ValueError as exc:
        raise NoteKeyInvalid(msg("detail.standards.tlog.note.not_canonical_base64", what=what)) from exc
    if not raw or raw[0] != ED25519_TYPE:
        raise NoteKeyInvalid(msg("detail.standards.tlog.note.ed_type_x_key", what=what))
    if len(raw) != 1 + signing.ED25519_KEY_SIZE:
        raise NoteKeyInvalid(
            msg(
                "detail.standards.tlog.note.ed_bytes_got",
                what=what,
                ED25519_KEY_SIZE=signing.ED25519_KEY_SIZE,
                value=len(raw) - 1,
            )
        )
    return raw[1:]


# --- keys -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 note verifier key: a key name and a 32-byte public key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        """Raises: NoteKeyInvalid: a bad name, or a public key that is not 32 bytes."""
        _check_name(self.name)
        if len(self.public_key) != signing.ED25519_KEY_SIZE:
            raise NoteKeyInvalid(
                msg("detail.standards.tlog.note.ed_public_key_bytes", public_key_count=len(self.public_key))
            )

    @property
    def key_id(self) -> KeyId:
        """The 4-byte key ID."""
        return key_id(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (without key ID) is this key's Ed25519 signature of ``message``."""
        try:
            signing.verify(self.public_key, message, signature)
        except (SignatureInvalid, KeyFormatError):
            return False
        return True

    def to_text(self) -> str:
        """The verifier key text ``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(bytes([ED25519_TYPE]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Parse verifier key text (split on ``+`` at most twice: the base64 part may contain ``+``).

        Raises:
            NoteKeyInvalid: the text is malformed, not an Ed25519 key, or its key ID does not match.
        """
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise NoteKeyInvalid(msg("detail.standards.tlog.note.verifier_key_text_name"))
        name, id_text, key_text = parts
        _check_name(name)
        claimed = _parse_key_id(id_text)
        verifier = cls(name, _parse_typed_key(key_text, "public key"))
        if verifier.key_id != claimed:
            raise NoteKeyInvalid(
                msg(
                    "detail.standards.tlog.note.key_id_does_match",
                    id_text=id_text,
                    value=verifier.key_id.hex(),
                )
            )
        return verifier


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 note signer: a key name and a 32-byte private key seed (never shown in ``repr``)."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        """Raises: NoteKeyInvalid: a bad name, or a seed that is not 32 bytes."""
        _check_name(self.name)
        if len(self.seed) != signing.ED25519_KEY_SIZE:
            raise NoteKeyInvalid(
                msg("detail.standards.tlog.note.ed_private_key_seed", seed_count=len(self.seed))
            )

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A signer with a fresh random key.

        Raises:
            NoteKeyInvalid: ``name`` is not a valid key name.
        """
        return cls(name, signing.generate_private_key())

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return signing.public_key(self.seed)

    @property
    def key_id(self) -> KeyId:
        """The 4-byte key ID."""
        return key_id(self.name, self.public_key)

    def verifier(self) -> NoteVerifier:
        """The matching verifier key."""
        return NoteVerifier(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (without key ID)."""
        return signing.sign(self.seed, message)

    def to_text(self) -> str:
        """The private key text ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``: keep it secret."""
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{_b64encode(bytes([ED25519_TYPE]) + self.seed)}"

    @classmethod
    def parse(cls, text: str) -> NoteSigner:
        """Parse private key text (split on ``+`` at most four times: the base64 part may contain ``+``).

        Raises:
            NoteKeyInvalid: the text is malformed, not an Ed25519 key, or its key ID does not match.
        """
        parts = text.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteKeyInvalid(msg("detail.standards.tlog.note.private_key_text_private"))
        _, _, name, id_text, key_text = parts
        _check_name(name)
        claimed = _parse_key_id(id_text)
        signer = cls(name, _parse_typed_key(key_text, "private key"))
        if signer.key_id != claimed:
            raise NoteKeyInvalid(
                msg(
                    "detail.standards.tlog.note.key_id_does_match", id_text=id_text, value=signer.key_id.hex()
                )
            )
        return signer


# --- notes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature of a note: who signed (name and key ID) and the signature bytes (without key ID)."""

    name: str
    key_id: KeyId
    signature: bytes

    def line(self) -> str:
        """The signature line, ``— <name> <base64(key ID || signature)>`` and a newline."""
        return f"{SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"


class OpenedNote(NamedTuple):
    """What :func:`open_note` returns: the note text and the signatures it verified."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> bytes:
    """Validate note text for signing and return its UTF-8 bytes."""
    if not text.endswith("\n"):
        raise NoteInvalid(msg("detail.standards.tlog.note.note_text_must_end"))
    if _CONTROL.search(text):
        raise NoteInvalid(msg("detail.standards.tlog.note.note_text_must_contain"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteInvalid(msg("detail.standards.tlog.note.note_text_valid_unicode")) from exc


def sign_note(text: str, signers: Sequence[NoteSigner]) -> bytes:
    """Sign ``text`` with each signer and return the signed note (UTF-8).

    Raises:
        NoteInvalid: the text does not end with a newline or holds a control character other than
            newline, there is no signer, or two signers share name and key ID.
    """
    message = _check_text(text)
    if not signers:
        raise NoteInvalid(msg("detail.standards.tlog.note.signed_note_needs_least"))
    seen: set[tuple[str, KeyId]] = set()
    lines: list[str] = []
    for signer in signers:
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise NoteInvalid(
                msg(
                    "detail.standards.tlog.note.two_signers_share_key",
                    name=signer.name,
                    value=signer.key_id.hex(),
                )
            )
        seen.add(ident)
        lines.append(NoteSignature(signer.name, signer.key_id, signer.sign(message)).line())
    return (text + "\n" + "".join(lines)).encode("utf-8")


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteInvalid(msg("detail.standards.tlog.note.signature_line_must_start"))
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or not is_valid_key_name(name):
        raise NoteInvalid(msg("detail.standards.tlog.note.malformed_signature_line_bad", name=name))
    try:
        raw = _b64decode(encoded)
    except ValueError as exc:
        raise NoteInvalid(
            msg("detail.standards.tlog.note.malformed_signature_line_signature_2", name=name)
        ) from exc
    if len(raw) <= KEY_ID_SIZE:
        raise NoteInvalid(msg("detail.standards.tlog.note.malformed_signature_line_signature", name=name))
    return NoteSignature(name, KeyId(raw[:KEY_ID_SIZE]), raw[KEY_ID_SIZE:])


def open_note(note: bytes, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Check a signed note against the known ``verifiers`` and return its text and verified signatures.

    Signatures from unknown keys (name and key ID not both matching a verifier) are ignored; a repeated
    signature by the same key counts once.

    Raises:
        NoteInvalid: the note is malformed, a known key's signature does not verify, or no known key
            signed it.
        NoteKeyInvalid: two verifiers share name and key ID but differ.
    """
    known: dict[tuple[str, KeyId], NoteVerifier] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        if known.setdefault(ident, verifier) != verifier:
            raise NoteKeyInvalid(
                msg(
                    "detail.standards.tlog.note.two_verifiers_share_key",
                    name=verifier.name,
                    value=ident[1].hex(),
                )
            )
    # 1. Valid UTF-8 without control characters other than newline.
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteInvalid(msg("detail.standards.tlog.note.signed_note_must_valid")) from exc
    if _CONTROL.search(decoded):
        raise NoteInvalid(msg("detail.standards.tlog.note.signed_note_must_contain"))
    # 2. The last blank line splits the text (with its final newline) from the signature block.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteInvalid(msg("detail.standards.tlog.note.signed_note_needs_blank"))
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteInvalid(msg("detail.standards.tlog.note.signed_note_must_end"))
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteInvalid(
            msg(
                "detail.standards.tlog.note.signed_note_may_carry",
                MAX_SIGNATURES=MAX_SIGNATURES,
                line_count=len(lines),
            )
        )
    # 3. Parse every line before verifying any, so a malformed note is rejected as such.
    parsed = [_parse_signature_line(line) for line in lines]
    # 4. Verify the signatures of known keys; ignore the others.
    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    done: set[tuple[str, KeyId]] = set()
    for signature in parsed:
        ident = (signature.name, signature.key_id)
        key = known.get(ident)
        if key is None or ident in done:
            continue
        if not key.verify(message, signature.signature):
            raise NoteInvalid(
                msg(
                    "detail.standards.tlog.note.signature_does_verify",
                    name=signature.name,
                    value=signature.key_id.hex(),
                )
            )
        done.add(ident)
        verified.append(signature)
    # 5. At least one known key must have signed.
    if not verified:
        raise NoteInvalid(msg("detail.standards.tlog.note.note_carries_no_signature"))
    return OpenedNote(text, tuple(verified))


# --- checkpoints ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog checkpoint: the log's origin, tree size, RFC 9162 root hash and extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Raises: CheckpointInvalid: an empty origin or extension line, a line holding a newline or
        control character, a size outside [0, 2**64), or a root hash that is not 32 bytes."""
        for label, line in [("origin", self.origin), *(("extension line", e) for e in self.extensions)]:
            if not line:
                raise CheckpointInvalid(
                    msg("detail.standards.tlog.note.checkpoint_s_must_empty", label=label)
                )
            if "\n" in line or _CONTROL.search(line):
                raise CheckpointInvalid(msg("detail.standards.tlog.note.checkpoint_s_must_one", label=label))
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointInvalid(msg("detail.standards.tlog.note.tree_size_must_got", size=self.size))
        if len(self.root_hash) != ROOT_HASH_SIZE:
            raise CheckpointInvalid(
                msg(
                    "detail.standards.tlog.note.root_hash_bytes_got",
                    ROOT_HASH_SIZE=ROOT_HASH_SIZE,
                    root_hash_count=len(self.root_hash),
                )
            )

    def format(self) -> str:
        """The note text: ``<origin>\\n<size>\\n<base64 root>\\n`` and one line per extension."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text (the text :func:`open_note` returns, not the signed note).

        Raises:
            CheckpointInvalid: fewer than three lines, an empty line, no final newline, a size that is
                not canonical ASCII decimal, or a root that is not canonical base64 of 32 bytes.
        """
        if not text.endswith("\n"):
            raise CheckpointInvalid(msg("detail.standards.tlog.note.checkpoint_text_must_end"))
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointInvalid(msg("detail.standards.tlog.note.checkpoint_has_least_three"))
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise CheckpointInvalid(
                msg("detail.standards.tlog.note.tree_size_must_decimal", size_text=size_text)
            )
        try:
            root_hash = _b64decode(root_text)
        except ValueError as exc:
            raise CheckpointInvalid(msg("detail.standards.tlog.note.root_hash_canonical_base")) from exc
        return cls(origin, int(size_text), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner, *cosigners: NoteSigner) -> bytes:
    """Sign a checkpoint as the log (whose key name must be the origin), plus any cosigners.

    Raises:
        NoteKeyInvalid: the log signer's name is not the checkpoint's origin.
        NoteInvalid: two signers share name and key ID.
    """
    if signer.name != checkpoint.origin:
        raise NoteKeyInvalid(
            msg("detail.standards.tlog.note.log_key_must_named", name=signer.name, origin=checkpoint.origin)
        )
    return sign_note(checkpoint.format(), [signer, *cosigners])


def open_checkpoint(note: bytes, log: NoteVerifier) -> Checkpoint:
    """Verify a signed checkpoint with the log's key (named after the origin) and parse it.

    Other signatures (witness cosignatures, rotated keys) are ignored.

    Raises:
        NoteInvalid: the note is malformed or the log's key did not sign it.
        CheckpointInvalid: the text is not a checkpoint, or its origin is not the log key's name.
    """
    opened = open_note(note, [log])
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != log.name:
        raise CheckpointInvalid(
            msg("detail.standards.tlog.note.checkpoint_s_origin_log", origin=checkpoint.origin, name=log.name)
        )
    return checkpoint
