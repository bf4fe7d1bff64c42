"""Verifying learner accounts: who the person is, confirmed by someone who knows.

An account opened on the web (:mod:`creditbank.auth.accounts`) acts for no learner until one of
two people confirms it:

* an **institution that already holds the learner's record** (it registered the learner or posted
  outcomes for them: a ``learner_links`` row). The account's identity number must be that of one
  of the institution's learners; the account is linked to that learner, never a new one. An
  institution that holds no such record learns nothing: the answer is the same 403 whether the
  person is unknown to the bank or known only to others;
* a **reviewer at a sub-centre who saw the documents**: the account is linked to the learner with
  that identity number, or, for a person the bank does not know yet, to a learner registered now.
  The person names their district when registering; only that district's sub-centre (or the city
  centre) reads what they submitted and verifies the account (another district's: 403
  ``account-outside-district``, checked before anything is written).

Either way who verified and when is recorded on the account. A learner has at most one live
account (UNIQUE ``learner_accounts.learner_id``).
"""

from sqlmodel import Session

from creditbank.auth import accounts
from creditbank.auth.models import LearnerAccount, ReviewerAccount
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, ValidationFailed
from creditbank.i18n import msg
from creditbank.learners import service
from creditbank.learners.models import LearnerLink


class AccountAlreadyVerified(Conflict):
    slug = "account-already-verified"
    title = "The account is verified already"


class LearnerHasAccount(Conflict):
    slug = "learner-has-account"
    title = "The learner already has a verified account"


class RecordNotHeld(Forbidden):
    slug = "record-not-held"
    title = "This institution holds no record of the person the account names"


class AccountOutsideDistrict(Forbidden):
    slug = "account-outside-district"
    title = "The account was opened in another district: its sub-centre (or the city centre) verifies it"


class DocumentsRequired(ValidationFailed):
    slug = "documents-required"
    title = "Say which documents you saw (e.g. 居民身份证原件)"


def _open(session: Session, master_key: bytes, account_id: str) -> tuple[LearnerAccount, accounts.Submitted]:
    account = accounts.get(session, account_id)
    if account.learner_id is not None:
        raise AccountAlreadyVerified(msg("detail.learners.accounts.already_verified", account_id=account_id))
    data = accounts.submitted(account, master_key)
    if data is None:  # pragma: no cover - only erased accounts lack data, and get() refuses them
        raise accounts.AccountNotFound(msg("detail.auth.accounts.no_account", account_id=account_id))
    return account, data


def check_district(session: Session, account: LearnerAccount, reviewer_id: str) -> None:
    """A sub-centre's reviewer acts only on accounts opened in that district; the city centre's
    (no district) on any.

    Raises:
        AccountOutsideDistrict: the reviewer's sub-centre is another district's (or the account
            names no district, which only the city centre verifies).
    """
    reviewer = session.get(ReviewerAccount, reviewer_id)
    place = reviewer.district if reviewer is not None else ""
    if place is None or place == account.district:
        return
    raise AccountOutsideDistrict(
        msg(
            "detail.learners.accounts.outside_district",
            district=account.district or msg("detail.learners.accounts.city_centre"),
            reviewer_district=place,
        )
    )


def for_reviewer(
    session: Session, master_key: bytes, account_id: str, reviewer_id: str
) -> tuple[LearnerAccount, accounts.Submitted]:
    """The account and what the person submitted, for a reviewer who may verify it (the documents
    are compared with it at the counter).

    Raises:
        AccountNotFound: no live account.
        AccountOutsideDistrict: see :func:`check_district`.
    """
    account = accounts.get(session, account_id)
    check_district(session, account, reviewer_id)
    data = accounts.submitted(account, master_key)
    if data is None:  # pragma: no cover - erased accounts are not found
        raise accounts.AccountNotFound(msg("detail.auth.accounts.no_account", account_id=account_id))
    return account, data


def _link(
    session: Session, account: LearnerAccount, learner_id: str, by: str, how: str, note: str
) -> LearnerAccount:
    if accounts.of_learner(session, learner_id) is not None:
        raise LearnerHasAccount(msg("detail.learners.accounts.has_account"))
    account.learner_id = learner_id
    account.verified_at = utcnow()
    account.verified_by = by
    account.verified_how = how
    account.verified_note = note
    session.add(account)
    session.flush()
    return account


def verify_by_institution(
    session: Session, *, identity_key: bytes, master_key: bytes, account_id: str, institution_id: str
) -> LearnerAccount:
    """Link the account to the institution's learner with the account's identity number.

    Raises:
        AccountNotFound: no live account.
        AccountAlreadyVerified: the account acts for a learner already.
        RecordNotHeld: the institution holds no record of that person (or the bank none at all).
        LearnerHasAccount: the learner has another verified account.
    """
    account, data = _open(session, master_key, account_id)
    learner = service.find_by_identity_number_or_none(session, identity_key, data.identity_number)
    if learner is None or session.get(LearnerLink, (learner.id, institution_id)) is None:
        raise RecordNotHeld(msg("detail.learners.accounts.record_not_held"))
    return _link(session, account, learner.id, institution_id, "institution", "")


def verify_at_subcentre(
    session: Session,
    *,
    identity_key: bytes,
    master_key: bytes,
    account_id: str,
    reviewer_id: str,
    documents: str,
) -> LearnerAccount:
    """Link the account to the learner with its identity number, registering the person if the bank
    does not know them yet; the reviewer says which documents they saw. Only a reviewer of the
    account's district (or of the city centre) may.

    Raises:
        DocumentsRequired: no documents named.
        AccountOutsideDistrict: the reviewer is another district's (nothing is written).
        AccountNotFound, AccountAlreadyVerified, LearnerHasAccount: as :func:`verify_by_institution`.
    """
    note = documents.strip()
    if not note:
        raise DocumentsRequired()
    account, data = _open(session, master_key, account_id)
    check_district(session, account, reviewer_id)
    learner, _ = service.register(
        session,
        identity_key=identity_key,
        master_key=master_key,
        name=data.name,
        identity_number=data.identity_number,
        contact=data.contact,
    )
    return _link(session, account, learner.id, reviewer_id, "sub-centre", note[:200])
