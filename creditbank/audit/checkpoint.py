"""Verifying a C2SP checkpoint from any log, ours or another ecosystem's.

A checkpoint (https://c2sp.org/tlog-checkpoint) is a signed note whose text is ``<origin>\\n<size>\\n<base64
root>\\n`` plus optional extension lines. Which key signs it is the log's business: our logs name the key
after the origin, Go's checksum database signs the origin ``go.sum database tree`` with the key
``sum.golang.org``. So the signature is checked with the given verifier keys (C2SP verifier-key text),
and the origin only when the caller asks for one.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from creditbank.i18n import msg
from creditbank.standards.tlog.errors import CheckpointInvalid
from creditbank.standards.tlog.note import Checkpoint, NoteSignature, NoteVerifier, open_note


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose note carried a valid signature of at least one given key."""

    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]
    """The signatures that verified (signatures of unknown keys are ignored)."""


def parse_verifier_keys(texts: Iterable[str]) -> list[NoteVerifier]:
    """Parse C2SP verifier-key texts (``<name>+<hex key id>+<base64(0x01 || key)>``).

    Raises:
        NoteKeyInvalid: a text is malformed, not an Ed25519 key, or its key id does not match the key.
    """
    return [NoteVerifier.parse(text.strip()) for text in texts]


def verify_checkpoint(
    note: bytes, keys: Sequence[NoteVerifier], *, origin: str | None = None
) -> VerifiedCheckpoint:
    """Check the signatures of a signed checkpoint and parse it.

    Every signature by one of ``keys`` must verify and at least one must be present; signatures of
    other keys (witnesses, rotated keys) are ignored.

    Raises:
        NoteInvalid: the note is malformed, a given key's signature fails, or no given key signed it.
        NoteKeyInvalid: two keys share name and key id but differ.
        CheckpointInvalid: the signed text is not a checkpoint, or its origin is not ``origin``.
    """
    opened = open_note(note, keys)
    checkpoint = Checkpoint.parse(opened.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointInvalid(
            msg(
                "detail.audit.checkpoint.checkpoint_s_origin_expected",
                origin=checkpoint.origin,
                origin2=origin,
            )
        )
    return VerifiedCheckpoint(checkpoint, opened.signatures)
