"""Rotating the pepper (``creditbank secrets rotate pepper``) and retiring the previous one
(``creditbank secrets retire-pepper``).

Everything the service derives from the pepper, and what a rotation does with it:

* **Identity-number lookups** (``learners.lookup_hmac``): recomputed under the new pepper, in the
  rotation's transaction, from the identity number each learner's vault holds (opened with the
  learner's data key). An erased learner has no identity number left and keeps no lookup value.
* **API token hashes** (``api_tokens.token_hash``): the tokens themselves are never stored, so their
  hashes cannot be recomputed. They are marked ``pepper_previous``; a token found under the previous
  pepper is re-hashed under the current one on its next use (:func:`creditbank.auth.service.authenticate`).
  Retiring the previous pepper revokes the tokens not used since the rotation (they must be issued
  again) and overwrites their hashes.
* **Browser sessions** (``web_sessions.id_hash``): all end at the rotation (people sign in again).
* **Content fingerprints of postings** (``outcomes.request_hash``, duplicate detection) and the
  idempotency fingerprints of outcome postings (``idempotency_keys.request_hash``): the posted content
  (it may hold an identity number and a name) is not stored, so they cannot be recomputed. While the
  previous pepper is live a posting is compared under both; new ones are written under the current
  one. Retiring overwrites the fingerprints written before the rotation with :data:`RETIRED_FINGERPRINT`
  (the append-only trigger of ``outcomes`` lets exactly that UPDATE through, as it does erasure's): the
  same ``Idempotency-Key`` sent again is then answered 409 (never run twice), and posting such a
  reference again is a reference conflict even with the same content (it can no longer be compared).

How a rotation runs (every step can be run again after an interruption):

1. A new pepper is written beside the current file as ``pepper.key.new`` (0600), or the one left by
   an interrupted run is taken up again.
2. One database transaction: the lookups are recomputed, tokens marked, sessions ended, and the
   key-check values set (``pepper`` for the new pepper, ``pepper-previous`` for the current one, whose
   ``created_at`` records the rotation). If anything fails, nothing changes.
3. The current pepper is copied to ``pepper.key.previous`` (0600) and ``pepper.key.new`` replaces
   ``pepper.key``. Until step 3 ends the service refuses to start (the pepper's check value does not
   match), with a message saying to run the command again, which then only finishes step 3.

A second rotation waits until the previous pepper has been retired (one previous pepper at a time).
"""

import contextlib
import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Delete, Update, delete, update
from sqlmodel import Session, col, select

from creditbank.auth.models import ApiToken, WebSession
from creditbank.config import write_secret_file
from creditbank.context import AppContext
from creditbank.crypto.symmetric import KEY_SIZE, constant_time_equal, hmac_sha256
from creditbank.db import utcnow
from creditbank.identifiers import InvalidIdentityNumber, normalise_identity_number
from creditbank.keyring.models import SecretCheck
from creditbank.keyring.service import PEPPER, PREVIOUS_PEPPER, pepper_check
from creditbank.learners import vault
from creditbank.learners.models import Learner
from creditbank.learners.service import lookup_hash
from creditbank.ledger.models import IdempotencyRecord
from creditbank.outcomes.models import Outcome

RETIRED_FINGERPRINT = "retired-pepper"
"""What a fingerprint written under a retired pepper is overwritten with: equal to no digest (the
outcomes trigger admits it, see migration ``20261205_ops``)."""
ERASED = "erased"
"""The marker erasure writes (:data:`creditbank.archive.erasure.ERASED`): left as it is."""


class RotationRefused(Exception):
    """The rotation cannot run now (the message says why and what to do)."""


class NothingToRetire(RotationRefused):
    """No previous pepper is live in the database."""


@dataclass(frozen=True)
class PepperRotation:
    learners: int  # lookups recomputed
    learners_without_lookup: int  # erased, or their stored number no longer matched their lookup
    tokens: int  # marked to be re-hashed on use
    sessions: int  # ended
    resumed: bool  # the database step had been done by an interrupted run


@dataclass(frozen=True)
class PepperRetirement:
    tokens_revoked: int
    idempotency_keys: int
    outcomes: int
    rotated_at: dt.datetime


def _changed(session: Session, statement: Update | Delete) -> int:
    """Run an UPDATE or DELETE; return how many rows it changed."""
    result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount)


def _identity_key(pepper: bytes) -> bytes:
    return hmac_sha256(pepper, b"creditbank/identity-lookup")


def pending_pepper(current_file: Path) -> tuple[Path, bytes, bool]:
    """Step 1: the new pepper, from ``pepper.key.new`` if an interrupted run left one, else fresh
    (then the third value is True)."""
    pending = current_file.with_name(current_file.name + ".new")
    if pending.exists():
        try:
            value = bytes.fromhex(pending.read_text().strip())
        except ValueError:
            value = b""
        if len(value) != KEY_SIZE:
            raise RotationRefused(f"{pending} does not hold a {KEY_SIZE}-byte key; check it and remove it")
        return pending, value, False
    value = secrets.token_bytes(KEY_SIZE)
    write_secret_file(pending, value)
    return pending, value, True


def rotate_in_database(session: Session, ctx: AppContext, new_pepper: bytes) -> PepperRotation:
    """Step 2 (see the module docstring), in the caller's transaction; done once only.

    Raises:
        RotationRefused: a previous pepper is still live, or the database holds another pepper.
        DecryptionFailed: a learner's vault does not open with the master key (nothing is kept).
    """
    current = session.get(SecretCheck, PEPPER)
    previous = session.get(SecretCheck, PREVIOUS_PEPPER)
    if current is not None and constant_time_equal(bytes(current.value), pepper_check(new_pepper)):
        if previous is None or not constant_time_equal(
            bytes(previous.value), pepper_check(ctx.secrets.pepper)
        ):
            raise RotationRefused(
                "the database already holds the new pepper but not the current one as previous"
            )
        return PepperRotation(0, 0, 0, 0, resumed=True)
    if current is not None and not constant_time_equal(
        bytes(current.value), pepper_check(ctx.secrets.pepper)
    ):
        raise RotationRefused("the configured pepper is not the one this database was written with")
    if previous is not None:
        raise RotationRefused(
            "the pepper before the last rotation is still live; retire it first "
            "(`creditbank secrets retire-pepper`), then rotate again"
        )
    old_key, new_key = _identity_key(ctx.secrets.pepper), _identity_key(new_pepper)
    recomputed = without = 0
    for learner in session.exec(select(Learner).order_by(col(Learner.id))).all():
        data = vault.load(session, ctx.secrets.master_key, learner.id) if learner.erased_at is None else None
        new_lookup = None
        if data is not None and learner.lookup_hmac is not None:
            # the lookup was made from the number as registered then (normalised since NFKC
            # registration, as given before): keep whichever form it was made from
            forms = [data.identity_number]
            with contextlib.suppress(InvalidIdentityNumber):
                forms.insert(0, normalise_identity_number(data.identity_number))
            for form in forms:
                if constant_time_equal(
                    bytes.fromhex(learner.lookup_hmac), bytes.fromhex(lookup_hash(old_key, form))
                ):
                    new_lookup = lookup_hash(new_key, form)
                    break
        if new_lookup is None:
            without += 1
        else:
            recomputed += 1
        if learner.lookup_hmac != new_lookup:
            learner.lookup_hmac = new_lookup
            session.add(learner)
    session.flush()
    tokens = _changed(session, update(ApiToken).values(pepper_previous=True))
    ended = _changed(session, delete(WebSession))
    now = utcnow()
    if current is None:
        current = SecretCheck(name=PEPPER, value=b"")
    current.value = pepper_check(new_pepper)
    current.created_at = now
    session.add(current)
    session.add(SecretCheck(name=PREVIOUS_PEPPER, value=pepper_check(ctx.secrets.pepper), created_at=now))
    session.flush()
    return PepperRotation(recomputed, without, tokens, ended, resumed=False)


def put_in_place(current_file: Path, pending: Path, old_pepper: bytes) -> Path:
    """Step 3: keep the current pepper as ``pepper.key.previous``, move the new one in; return the
    former's path. Safe to run again."""
    previous = current_file.with_name(current_file.name + ".previous")
    if previous.exists():
        if bytes.fromhex(previous.read_text().strip()) != old_pepper:
            raise RotationRefused(f"{previous} holds another pepper; check it")
    else:
        write_secret_file(previous, old_pepper)
    os.replace(pending, current_file)
    return previous


def retire_in_database(
    session: Session, grace: dt.timedelta, now: dt.datetime | None = None
) -> PepperRetirement:
    """End the previous pepper in the database (see the module docstring), in the caller's transaction.

    Raises:
        RotationRefused: no previous pepper is live, or the grace period since the rotation has not
            passed.
    """
    now = now or utcnow()
    previous = session.get(SecretCheck, PREVIOUS_PEPPER)
    if previous is None:
        raise NothingToRetire("no previous pepper is live: nothing to retire")
    rotated_at = previous.created_at
    if now - rotated_at < grace:
        raise RotationRefused(
            f"the pepper was rotated at {rotated_at.isoformat(timespec='seconds')}; the grace period of "
            f"{grace} ends at {(rotated_at + grace).isoformat(timespec='seconds')} (tokens not used by then "
            "must be issued again)"
        )
    stale = list(session.exec(select(ApiToken).where(col(ApiToken.pepper_previous))).all())
    for token in stale:
        token.token_hash = secrets.token_hex(32)  # a value derived from nothing
        token.pepper_previous = False
        if token.revoked_at is None:
            token.revoked_at = now
        session.add(token)
    session.flush()
    session.execute(delete(WebSession).where(col(WebSession.token_id).in_([t.id for t in stale])))
    scrubbed = _changed(
        session,
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.created_at) < rotated_at, col(IdempotencyRecord.request_hash) != ERASED)
        .values(request_hash=RETIRED_FINGERPRINT),
    )
    outcomes = _changed(
        session,
        update(Outcome)
        .where(col(Outcome.created_at) < rotated_at, col(Outcome.request_hash) != ERASED)
        .values(request_hash=RETIRED_FINGERPRINT),
    )
    session.delete(previous)
    session.flush()
    return PepperRetirement(
        tokens_revoked=len(stale), idempotency_keys=scrubbed, outcomes=outcomes, rotated_at=rotated_at
    )


def retire_file(current_file: Path) -> Path | None:
    """Move ``pepper.key.previous`` aside as ``pepper.key.retired-<UTC time>``; return its new path
    (None when there was none). Safe to run again."""
    previous = current_file.with_name(current_file.name + ".previous")
    if not previous.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    retired = current_file.with_name(f"{current_file.name}.retired-{stamp}")
    os.replace(previous, retired)
    return retired
