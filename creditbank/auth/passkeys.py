"""Passkeys (WebAuthn) of learner accounts: registering one on the account page, signing in with it,
listing and deleting them.

How this works:

* **Challenges live on the server.** Each ceremony starts with options carrying 32 fresh random
  bytes; the challenge is stored in ``passkey_challenges`` under the HMAC of the browser that asked
  (its session when registering, its sign-in form's pre-session when signing in), one per browser and
  purpose (a new one replaces the last), for :data:`CHALLENGE_SECONDS`. Finishing takes the challenge
  out (deleted whatever the outcome, so it serves once; the routes commit that even when they refuse)
  and hands it to the verification: an answer made for another browser's challenge, or replayed after
  its challenge was used, finds none or the wrong one.
* **Verification** is the maintained ``webauthn`` library (:mod:`creditbank.crypto.passkeys`): type,
  challenge, origin (``CREDITBANK_PASSKEY_ORIGINS``), RP ID hash (``CREDITBANK_PASSKEY_RP_ID``), user
  presence, the signature under the stored public key, and the signature counter, which must grow
  when the authenticator keeps one (a clone or a replay otherwise). The stored count is updated with
  the passkey's row locked.
* **Whose passkey.** A credential id belongs to one account (UNIQUE); signing in finds the account by
  it, and the authenticator's user handle (the account id, given at registration) must name the same
  account. Listing and deleting act only on the signed-in account's own passkeys.
"""

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlmodel import Session, col, select

from creditbank.auth.models import LearnerAccount, Passkey, PasskeyChallenge
from creditbank.config import Settings
from creditbank.crypto import passkeys as webauthn
from creditbank.db import utcnow
from creditbank.errors import Conflict, CreditBankError, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.ids import random_id

CHALLENGE_SECONDS = 300
REGISTER = "register"
SIGNIN = "signin"
RP_NAME = "学分银行 Credit Bank"
LABEL_MAX = 100


class PasskeyChallengeMissing(ValidationFailed):
    slug = "passkey-challenge-missing"
    title = "No passkey request of this browser is waiting (it expired or was used): start again"


class PasskeyInvalid(ValidationFailed):
    slug = "passkey-invalid"
    title = "The passkey's answer does not verify"


class PasskeySigninFailed(CreditBankError):
    status = 401
    slug = "passkey-signin-failed"
    title = "This passkey does not sign in to any account here"


class PasskeyRegistered(Conflict):
    slug = "passkey-registered"
    title = "This passkey is registered already"


class PasskeyNotFound(NotFound):
    slug = "passkey-not-found"
    title = "No such passkey on this account"


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID (a domain) and the origins the browser may be at."""

    id: str
    origins: list[str]

    @classmethod
    def of(cls, settings: Settings) -> "RelyingParty":
        """From ``CREDITBANK_PASSKEY_RP_ID`` and ``CREDITBANK_PASSKEY_ORIGINS``; by default the host and
        the origin of ``CREDITBANK_BASE_URL``."""
        base = urlsplit(settings.base_url)
        rp_id = settings.passkey_rp_id or (base.hostname or "localhost")
        origins = [o.strip().rstrip("/") for o in settings.passkey_origins.split(",") if o.strip()]
        return cls(id=rp_id, origins=origins or [f"{base.scheme}://{base.netloc}"])


def _put_challenge(session: Session, binding: str, purpose: str, account_id: str | None) -> bytes:
    now = utcnow()
    session.execute(delete(PasskeyChallenge).where(col(PasskeyChallenge.expires_at) <= now))
    session.execute(
        delete(PasskeyChallenge).where(
            col(PasskeyChallenge.binding) == binding, col(PasskeyChallenge.purpose) == purpose
        )
    )
    challenge = secrets.token_bytes(32)
    session.add(
        PasskeyChallenge(
            binding=binding,
            purpose=purpose,
            challenge=challenge,
            account_id=account_id,
            expires_at=now + dt.timedelta(seconds=CHALLENGE_SECONDS),
        )
    )
    session.flush()
    return challenge


def take_challenge(session: Session, binding: str, purpose: str) -> PasskeyChallenge:
    """Take this browser's waiting challenge out (it serves once).

    Raises:
        PasskeyChallengeMissing: none waits, or it expired.
    """
    row = session.exec(
        select(PasskeyChallenge)
        .where(col(PasskeyChallenge.binding) == binding, col(PasskeyChallenge.purpose) == purpose)
        .with_for_update()
    ).first()
    if row is None:
        raise PasskeyChallengeMissing()
    session.delete(row)
    session.flush()
    if row.expires_at <= utcnow():
        raise PasskeyChallengeMissing()
    return row


def drop_challenge(session: Session, binding: str, purpose: str) -> None:
    """Delete this browser's challenge (a refused finish: its savepoint undid the taking)."""
    session.execute(
        delete(PasskeyChallenge).where(
            col(PasskeyChallenge.binding) == binding, col(PasskeyChallenge.purpose) == purpose
        )
    )


def registration_options(
    session: Session, rp: RelyingParty, account: LearnerAccount, binding: str
) -> dict[str, Any]:
    """Options for registering a passkey on ``account`` (its other passkeys excluded)."""
    challenge = _put_challenge(session, binding, REGISTER, account.id)
    return webauthn.registration_options(
        rp_id=rp.id,
        rp_name=RP_NAME,
        user_id=account.id.encode(),
        user_name=account.id,
        challenge=challenge,
        exclude=[p.credential_id for p in of_account(session, account.id)],
    )


def register(
    session: Session,
    rp: RelyingParty,
    account: LearnerAccount,
    binding: str,
    credential: dict[str, Any],
    label: str,
) -> Passkey:
    """Store the passkey an authenticator made for this browser's waiting challenge.

    Raises:
        PasskeyChallengeMissing: no challenge waits for this browser (or it was another account's).
        PasskeyInvalid: the answer does not verify.
        PasskeyRegistered: the credential is registered already (on this or another account).
    """
    waiting = take_challenge(session, binding, REGISTER)
    if waiting.account_id != account.id:
        raise PasskeyChallengeMissing()
    try:
        made = webauthn.verify_registration(
            credential, challenge=waiting.challenge, rp_id=rp.id, origins=rp.origins
        )
    except webauthn.PasskeyInvalid as exc:
        raise PasskeyInvalid(msg("detail.auth.passkeys.invalid", reason=str(exc))) from exc
    if session.exec(select(Passkey.id).where(col(Passkey.credential_id) == made.credential_id)).first():
        raise PasskeyRegistered()
    passkey = Passkey(
        id=random_id("pk"),
        account_id=account.id,
        credential_id=made.credential_id,
        public_key=made.public_key,
        sign_count=made.sign_count,
        aaguid=made.aaguid[:40],
        label=(label.strip() or "通行密钥")[:LABEL_MAX],
    )
    session.add(passkey)
    session.flush()
    return passkey


def signin_options(session: Session, rp: RelyingParty, binding: str) -> dict[str, Any]:
    """Options for signing in with a passkey from this browser's sign-in form."""
    return webauthn.authentication_options(
        rp_id=rp.id, challenge=_put_challenge(session, binding, SIGNIN, None)
    )


def sign_in(session: Session, rp: RelyingParty, binding: str, credential: dict[str, Any]) -> LearnerAccount:
    """The account a passkey's answer to this browser's waiting challenge signs in to.

    Raises:
        PasskeyChallengeMissing: no challenge waits for this browser.
        PasskeySigninFailed: no such passkey, its account is erased, the user handle names another
            account, or the answer does not verify (a bad signature, another origin, a replay).
    """
    waiting = take_challenge(session, binding, SIGNIN)
    try:
        credential_id = webauthn.credential_id_of(credential)
    except webauthn.PasskeyInvalid:
        raise PasskeySigninFailed() from None
    passkey = session.exec(
        select(Passkey).where(col(Passkey.credential_id) == credential_id).with_for_update()
    ).first()
    if passkey is None:
        raise PasskeySigninFailed()
    account = session.get(LearnerAccount, passkey.account_id)
    if account is None or account.erased_at is not None:
        raise PasskeySigninFailed()
    try:
        handle = webauthn.user_handle_of(credential)
    except webauthn.PasskeyInvalid:
        raise PasskeySigninFailed() from None
    if handle is not None and handle != account.id.encode():
        raise PasskeySigninFailed(msg("detail.auth.passkeys.other_account"))
    try:
        count = webauthn.verify_authentication(
            credential,
            challenge=waiting.challenge,
            rp_id=rp.id,
            origins=rp.origins,
            public_key=passkey.public_key,
            sign_count=passkey.sign_count,
        )
    except webauthn.PasskeyInvalid as exc:
        raise PasskeySigninFailed(msg("detail.auth.passkeys.not_verified", reason=str(exc))) from exc
    passkey.sign_count = count
    passkey.last_used_at = utcnow()
    session.add(passkey)
    session.flush()
    return account


def of_account(session: Session, account_id: str) -> list[Passkey]:
    """The account's passkeys, oldest first."""
    return list(
        session.exec(
            select(Passkey).where(col(Passkey.account_id) == account_id).order_by(col(Passkey.created_at))
        ).all()
    )


def remove(session: Session, account_id: str, passkey_id: str) -> Passkey:
    """Delete one of the account's own passkeys.

    Raises:
        PasskeyNotFound: the account has no passkey with that id (another account's is not found either).
    """
    passkey = session.get(Passkey, passkey_id)
    if passkey is None or passkey.account_id != account_id:
        raise PasskeyNotFound(msg("detail.auth.passkeys.not_found", passkey_id=passkey_id))
    session.delete(passkey)
    session.flush()
    return passkey


def erase_for_accounts(session: Session, account_ids: list[str]) -> None:
    """Erasure of accounts takes their passkeys and waiting challenges with them."""
    if account_ids:
        session.execute(delete(Passkey).where(col(Passkey.account_id).in_(account_ids)))
        session.execute(delete(PasskeyChallenge).where(col(PasskeyChallenge.account_id).in_(account_ids)))
