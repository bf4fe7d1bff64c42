"""Learner accounts: registration on the web, password sign-in with lockout, password change.

How this works:

* ``/register`` opens an account: name, identity number (GB 11643, :mod:`creditbank.identifiers`),
  a phone number or an e-mail address (the sign-in name) and a password (argon2id,
  :mod:`creditbank.crypto.passwords`). What the person submitted is sealed under a data key of
  the account's own; the table keeps only the HMAC of the sign-in name.
* Registration looks at no learner. Whoever types someone else's identity number gets an account
  like any other, answered the same way, attached to nobody: an account acts for a learner only
  once an institution holding that learner's record, or a reviewer who saw the documents, verifies
  it (:mod:`creditbank.learners.accounts`). Until then its sessions are learners of no one, which
  the role guards admit only to the account's own pages.
* Sign-in: a wrong password counts against the account; after ``signin_attempts`` in a row the
  account is locked for ``signin_lockout_seconds``, and while locked even the right password is
  refused with the time it opens again. A name that matches no account costs the same argon2 time
  and gives the same answer as a wrong password.
"""

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from creditbank.auth import passkeys
from creditbank.auth import service as tokens
from creditbank.auth.models import ApiToken, LearnerAccount, Role
from creditbank.crypto.passwords import burn_time, hash_password, needs_rehash, verify_password
from creditbank.crypto.symmetric import generate_key, hmac_sha256, open_sealed, seal
from creditbank.db import utcnow
from creditbank.errors import Conflict, CreditBankError, Forbidden, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.identifiers import normalise_identity_number
from creditbank.ids import random_id
from creditbank.institutions import districts

PASSWORD_MIN = 8
PASSWORD_MAX = 128
NAME_MAX = 50
_PHONE = re.compile(r"^1[3-9][0-9]{9}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})+$")


class InvalidContact(ValidationFailed):
    slug = "invalid-contact"
    title = "Give a mainland mobile number (11 digits) or an e-mail address"


class WeakPassword(ValidationFailed):
    slug = "weak-password"
    title = "The password must have 8 to 128 characters"


class InvalidName(ValidationFailed):
    slug = "invalid-name"
    title = "Give your name as on your identity card (1 to 50 characters)"


class ContactRegistered(Conflict):
    slug = "contact-registered"
    title = "An account with this phone number or e-mail address already exists"


class SigninFailed(CreditBankError):
    status = 401
    slug = "signin-failed"
    title = "The phone number, e-mail address or password is wrong"


class AccountLocked(CreditBankError):
    status = 429
    slug = "account-locked"
    title = "Too many wrong passwords: the account is locked for a while"


class WrongPassword(ValidationFailed):
    slug = "wrong-password"
    title = "The current password is wrong"


class AccountNotFound(NotFound):
    slug = "account-not-found"
    title = "This sign-in has no learner account"


class AccountUnverified(Forbidden):
    slug = "account-unverified"
    title = "The account is not verified yet: an institution or a sub-centre must confirm who you are"


@dataclass(frozen=True)
class Submitted:
    """What the person typed when registering (sealed in the account row)."""

    name: str
    identity_number: str
    contact: str


def normalise_contact(raw: str) -> str:
    """The canonical sign-in name: a mainland mobile number (digits only, ``+86`` dropped) or an
    e-mail address (lower case).

    Raises:
        InvalidContact: neither.
    """
    value = unicodedata.normalize("NFKC", raw).strip()
    if "@" in value:
        value = value.lower()
        if len(value) <= 254 and _EMAIL.match(value):
            return value
        raise InvalidContact(msg("detail.auth.accounts.not_email"))
    digits = re.sub(r"[\s\-]", "", value)
    digits = digits.removeprefix("+86")
    if _PHONE.match(digits):
        return digits
    raise InvalidContact(msg("detail.auth.accounts.not_mobile"))


def _login_hash(key: bytes, contact: str) -> str:
    return hmac_sha256(key, contact.encode()).hex()


def _contexts(account_id: str) -> tuple[str, str]:
    return f"creditbank/account-dek/{account_id}", f"creditbank/account/{account_id}"


def _check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise WeakPassword(
            msg(
                "detail.auth.accounts.password_length",
                count=len(password),
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
            )
        )


def register(
    session: Session,
    *,
    login_key: bytes,
    master_key: bytes,
    name: str,
    identity_number: str,
    contact: str,
    password: str,
    district: str,
) -> LearnerAccount:
    """Open an unverified account in ``district`` (whose sub-centre verifies it). Looks up no
    learner: the account is attached to none.

    Raises:
        InvalidName, InvalidIdentityNumber, InvalidContact, WeakPassword: bad input.
        UnknownDistrict: ``district`` is none of the city's.
        ContactRegistered: the phone number or e-mail address already signs in to an account.
    """
    clean_name = unicodedata.normalize("NFKC", name).strip()
    if not 1 <= len(clean_name) <= NAME_MAX or any(
        unicodedata.category(c).startswith("C") for c in clean_name
    ):
        raise InvalidName()
    number = normalise_identity_number(identity_number)
    place = districts.district(district).name_zh
    login = normalise_contact(contact)
    _check_password(password)
    digest = _login_hash(login_key, login)
    if session.exec(select(LearnerAccount.id).where(LearnerAccount.login_hmac == digest)).first():
        raise ContactRegistered()
    account = LearnerAccount(
        id=random_id("acc"), login_hmac=digest, password_hash=hash_password(password), district=place
    )
    _seal(account, master_key, Submitted(name=clean_name, identity_number=number, contact=login))
    session.add(account)
    session.flush()
    return account


def _seal(account: LearnerAccount, master_key: bytes, data: Submitted) -> None:
    key_context, data_context = _contexts(account.id)
    data_key = generate_key()
    account.wrapped_key = seal(master_key, data_key, key_context)
    account.sealed = seal(data_key, json.dumps(data.__dict__, ensure_ascii=False).encode(), data_context)


def submitted(account: LearnerAccount, master_key: bytes) -> Submitted | None:
    """What the person submitted, or None after erasure.

    Raises:
        DecryptionFailed: the row was tampered with or the master key is wrong.
    """
    if account.wrapped_key is None or account.sealed is None:
        return None
    key_context, data_context = _contexts(account.id)
    data_key = open_sealed(master_key, account.wrapped_key, key_context)
    return Submitted(**json.loads(open_sealed(data_key, account.sealed, data_context)))


def _find(
    session: Session, login_key: bytes, previous_key: bytes | None, login: str
) -> LearnerAccount | None:
    digest = _login_hash(login_key, login)
    found = session.exec(
        select(LearnerAccount).where(LearnerAccount.login_hmac == digest).with_for_update()
    ).first()
    if found is None and previous_key is not None:
        old = _login_hash(previous_key, login)
        found = session.exec(
            select(LearnerAccount).where(LearnerAccount.login_hmac == old).with_for_update()
        ).first()
        if found is not None:  # found under the pepper before the last rotation: re-hash now
            found.login_hmac = digest
    return found


def sign_in(
    session: Session,
    *,
    login_key: bytes,
    previous_login_key: bytes | None,
    contact: str,
    password: str,
    attempts: int,
    lockout_seconds: int,
) -> LearnerAccount:
    """Check a sign-in. A wrong password is counted (in the caller's transaction: commit it even
    though this raises) and locks the account after ``attempts`` in a row.

    Raises:
        SigninFailed: no such account, or a wrong password (the same answer for both).
        AccountLocked: too many wrong passwords; ``retry_after`` seconds until it opens.
    """
    try:
        login = normalise_contact(contact)
    except InvalidContact:
        burn_time(password)
        raise SigninFailed() from None
    account = _find(session, login_key, previous_login_key, login)
    if account is None or account.erased_at is not None or not account.password_hash:
        burn_time(password)
        raise SigninFailed()
    now = utcnow()
    if account.locked_until is not None and account.locked_until > now:
        raise _locked(account.locked_until, now)
    if not verify_password(account.password_hash, password):
        failures = account.failed_signins + 1
        account.failed_signins = failures
        if failures >= attempts:
            account.failed_signins = 0
            account.locked_until = now + dt.timedelta(seconds=lockout_seconds)
            session.add(account)
            session.flush()
            raise _locked(account.locked_until, now)
        session.add(account)
        session.flush()
        raise SigninFailed(remaining=attempts - failures)
    account.failed_signins = 0
    account.locked_until = None
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    session.add(account)
    session.flush()
    return account


def _locked(until: dt.datetime, now: dt.datetime) -> AccountLocked:
    seconds = max(1, int((until - now).total_seconds()) + 1)
    minutes = (seconds + 59) // 60
    return AccountLocked(
        msg("detail.auth.accounts.locked_minutes", minutes=minutes),
        retry_after=seconds,
        minutes=minutes,
    )


def get(session: Session, account_id: str) -> LearnerAccount:
    """Raises: AccountNotFound (also for an erased account)."""
    account = session.get(LearnerAccount, account_id)
    if account is None or account.erased_at is not None:
        raise AccountNotFound(msg("detail.auth.accounts.no_account", account_id=account_id))
    return account


def of_learner(session: Session, learner_id: str) -> LearnerAccount | None:
    """The live account verified for this learner, if any."""
    return session.exec(
        select(LearnerAccount).where(
            LearnerAccount.learner_id == learner_id, col(LearnerAccount.erased_at).is_(None)
        )
    ).first()


def change_password(session: Session, account_id: str, current: str, new: str) -> LearnerAccount:
    """Replace the password after checking the current one.

    Raises:
        AccountNotFound: no live account.
        WrongPassword: ``current`` is not the password.
        WeakPassword: ``new`` is too short or too long.
    """
    account = get(session, account_id)
    if not verify_password(account.password_hash, current):
        raise WrongPassword()
    _check_password(new)
    account.password_hash = hash_password(new)
    account.password_changed_at = utcnow()
    account.failed_signins = 0
    account.locked_until = None
    session.add(account)
    session.flush()
    return account


def erase_for_learner(session: Session, learner_id: str) -> list[str]:
    """Erasure of a learner reaches their account: its sealed data, sign-in name, password and
    passkeys go (the data key with them), the row stays as a tombstone. Returns the ids of accounts erased."""
    rows = list(
        session.exec(
            select(LearnerAccount).where(
                LearnerAccount.learner_id == learner_id, col(LearnerAccount.erased_at).is_(None)
            )
        ).all()
    )
    for account in rows:
        session.execute(
            update(LearnerAccount)
            .where(col(LearnerAccount.id) == account.id)
            .values(login_hmac=None, password_hash="", wrapped_key=None, sealed=None, erased_at=utcnow())
        )
    passkeys.erase_for_accounts(session, [a.id for a in rows])
    session.flush()
    return [a.id for a in rows]


def personal_tokens(session: Session, learner_id: str) -> list[ApiToken]:
    """The live API tokens acting for this learner (their own and any an admin minted for them)."""
    return list(
        session.exec(
            select(ApiToken)
            .where(
                ApiToken.role == Role.learner.value,
                ApiToken.subject == learner_id,
                col(ApiToken.revoked_at).is_(None),
            )
            .order_by(col(ApiToken.created_at))
        ).all()
    )


def create_personal_token(session: Session, key: bytes, account: LearnerAccount, label: str) -> str:
    """Mint an API token acting for the account's learner (their own data only); return it (shown once).

    Raises:
        AccountUnverified: the account acts for no learner yet.
    """
    if account.learner_id is None:
        raise AccountUnverified()
    _, plaintext = tokens.create_token(
        session, key, Role.learner, account.learner_id, label=(label.strip() or "personal")[:200]
    )
    return plaintext


def revoke_personal_token(session: Session, account: LearnerAccount, token_id: str) -> ApiToken:
    """Revoke one of the learner's own tokens (ending the sessions opened with it).

    Raises:
        TokenNotFound: no live token of this learner has that id.
    """
    row = session.get(ApiToken, token_id)
    if (
        row is None
        or account.learner_id is None
        or row.role != Role.learner.value
        or row.subject != account.learner_id
    ):
        raise tokens.TokenNotFound(msg("detail.auth.accounts.no_own_token", token_id=token_id))
    return tokens.revoke_token(session, token_id)
