"""The personal-data vault: per-learner data keys wrapped by the master key (envelope encryption)."""

import json
from dataclasses import dataclass

from sqlmodel import Session

from creditbank.crypto.symmetric import generate_key, open_sealed, seal
from creditbank.db import utcnow
from creditbank.errors import Conflict
from creditbank.i18n import msg
from creditbank.keyring.sealed import rewrap_column
from creditbank.learners.models import LearnerVault


@dataclass(frozen=True)
class PersonalData:
    name: str
    identity_number: str
    contact: str | None = None


def _contexts(learner_id: str) -> tuple[str, str]:
    return f"creditbank/dek/{learner_id}", f"creditbank/vault/{learner_id}"


def store(session: Session, master_key: bytes, learner_id: str, data: PersonalData) -> None:
    """Seal ``data`` under a fresh data key and store it (replacing any earlier record)."""
    key_context, data_context = _contexts(learner_id)
    data_key = generate_key()
    payload = json.dumps(data.__dict__, ensure_ascii=False).encode()
    row = session.get(LearnerVault, learner_id) or LearnerVault(
        learner_id=learner_id, wrapped_key=b"", sealed=b""
    )
    row.wrapped_key = seal(master_key, data_key, key_context)
    row.sealed = seal(data_key, payload, data_context)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()


def load(session: Session, master_key: bytes, learner_id: str) -> PersonalData | None:
    """Return the learner's personal data, or None after erasure.

    Raises:
        DecryptionFailed: the vault row was tampered with or the master key is wrong.
    """
    row = session.get(LearnerVault, learner_id)
    if row is None:
        return None
    return open_record(master_key, learner_id, row.wrapped_key, row.sealed)


def open_record(master_key: bytes, learner_id: str, wrapped_key: bytes, sealed: bytes) -> PersonalData:
    """The personal data sealed in the learner's vault row (its ``wrapped_key`` and ``sealed``).

    Raises:
        DecryptionFailed: the vault row was tampered with or the master key is wrong.
    """
    key_context, data_context = _contexts(learner_id)
    data_key = open_sealed(master_key, wrapped_key, key_context)
    return PersonalData(**json.loads(open_sealed(data_key, sealed, data_context)))


class VaultShredded(Conflict):
    slug = "personal-data-erased"
    title = "The learner's personal data was erased: their files can no longer be sealed or opened"


def _data_key(session: Session, master_key: bytes, learner_id: str) -> bytes:
    row = session.get(LearnerVault, learner_id)
    if row is None:
        raise VaultShredded(msg("detail.learners.vault.shredded", learner_id=learner_id))
    return open_sealed(master_key, row.wrapped_key, _contexts(learner_id)[0])


def seal_file(session: Session, master_key: bytes, learner_id: str, data: bytes, context: str) -> bytes:
    """Seal a file of the learner's (an evidence file) under their data key, bound to ``context``:
    when erasure shreds the key, the file can no longer be opened.

    Raises:
        VaultShredded: the learner was erased (there is no data key any more).
        DecryptionFailed: the vault row was tampered with or the master key is wrong.
    """
    return seal(_data_key(session, master_key, learner_id), data, f"creditbank/file/{learner_id}/{context}")


def open_file(session: Session, master_key: bytes, learner_id: str, sealed: bytes, context: str) -> bytes:
    """Open what :func:`seal_file` sealed.

    Raises:
        VaultShredded: the learner was erased.
        DecryptionFailed: the file or the vault row was tampered with, or the context differs.
    """
    return open_sealed(
        _data_key(session, master_key, learner_id), sealed, f"creditbank/file/{learner_id}/{context}"
    )


def shred(session: Session, learner_id: str) -> bool:
    """Delete the vault row and with it the only copy of the data key. Returns whether one existed."""
    row = session.get(LearnerVault, learner_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def rewrap_all(session: Session, old_master_key: bytes, new_master_key: bytes) -> int:
    """Wrap every learner's data key under a new master key (the sealed data itself is unchanged).

    Raises:
        DecryptionFailed: a data key does not open with ``old_master_key``.
    """
    table = LearnerVault.__table__  # type: ignore[attr-defined]
    return rewrap_column(
        session,
        table,
        table.c.learner_id,
        table.c.wrapped_key,
        lambda learner_id: _contexts(learner_id)[0],
        old_master_key,
        new_master_key,
    )
