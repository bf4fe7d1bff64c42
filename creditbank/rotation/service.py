"""Rotating the master key and the session secret (``creditbank secrets rotate``).

How this works, for the master key:

1. A new key is written beside the current file as ``<file>.new`` (0600; the command refuses to
   overwrite one, so an interrupted rotation is never silently redone with another key).
2. In one database transaction, everything sealed under the master key is opened with the current
   key and sealed again with the new one: every learner's data key (the personal data itself stays
   as it is: envelope encryption), every issuer signing key, every log signing key; and the
   master-key check value is replaced. If any blob does not open, nothing changes.
3. After the commit the current file is kept as ``<file>.retired-<UTC time>`` (backups taken before
   the rotation need it) and the new key takes its place.

The session secret seals nothing in the database: a new one is written the same way, and every
browser session and share link signed with the old one ends.

The pepper is not rotated by this command: API token hashes and the content keys of idempotent
postings are HMACs of values the service never stores, so they cannot be re-keyed.
"""

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from creditbank.config import Secrets, write_secret_file
from creditbank.credentials import keys
from creditbank.crypto.symmetric import KEY_SIZE
from creditbank.keyring.models import SecretCheck
from creditbank.keyring.service import MASTER_KEY, master_key_check
from creditbank.learners import vault
from creditbank.transparency import store


@dataclass(frozen=True)
class MasterKeyRotation:
    learners: int
    signing_keys: int
    logs: int
    retired: Path


def new_key_file(current: Path) -> tuple[Path, bytes]:
    """Write a fresh key to ``<current>.new`` (0600) and return it.

    Raises:
        FileExistsError: a ``.new`` file is left from an interrupted rotation.
    """
    pending = current.with_name(current.name + ".new")
    value = secrets.token_bytes(KEY_SIZE)
    write_secret_file(pending, value)
    return pending, value


def rewrap_master_key(session: Session, old: Secrets, new_master_key: bytes) -> tuple[int, int, int]:
    """Step 2: seal everything again under ``new_master_key`` (see the module docstring).

    Raises:
        DecryptionFailed: something does not open with the current key (nothing is kept).
    """
    learners = vault.rewrap_all(session, old.master_key, new_master_key)
    signing_keys = keys.rewrap_all(session, old.master_key, new_master_key)
    logs = store.rewrap_all(session, old.master_key, new_master_key)
    check = session.get(SecretCheck, MASTER_KEY) or SecretCheck(name=MASTER_KEY, value=b"")
    check.value = master_key_check(new_master_key)
    session.add(check)
    session.flush()
    return learners, signing_keys, logs


def put_in_place(current: Path, pending: Path) -> Path:
    """Step 3: keep the current file as ``.retired-<time>``, move the new one in; return the former."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    retired = current.with_name(f"{current.name}.retired-{stamp}")
    os.replace(current, retired)
    os.replace(pending, current)
    return retired
