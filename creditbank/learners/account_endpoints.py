"""Verifying learner accounts opened on the web (see :mod:`creditbank.learners.accounts`)."""

from typing import Any

from fastapi import APIRouter

from creditbank.auth.deps import InstitutionOrReviewer, ReviewerOnly
from creditbank.auth.models import LearnerAccount, Role
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep
from creditbank.learners import accounts as verification
from creditbank.learners.schemas import AccountPublic, AccountReview, AccountVerification
from creditbank.outcomes import idempotent

router = APIRouter(prefix="/api/v1/accounts", tags=["learner accounts"])


def account_public(account: LearnerAccount) -> AccountPublic:
    return AccountPublic(
        id=account.id,
        state="verified" if account.learner_id else "unverified",
        learner_id=account.learner_id,
        verified_at=account.verified_at,
        verified_by=account.verified_by,
        verified_how=account.verified_how,
        district=account.district,
        created_at=account.created_at,
    )


@router.get("/{account_id}", response_model=AccountReview)
def review_account(account_id: str, session: SessionDep, ctx: ContextDep, who: ReviewerOnly) -> AccountReview:
    """What the person submitted, for the reviewer at the sub-centre who compares it with their
    documents (the person gives the account code at the counter). Only a reviewer of the district
    the account was opened in, or of the city centre (another district's: 403
    ``account-outside-district``)."""
    account, data = verification.for_reviewer(session, ctx.secrets.master_key, account_id, who.subject or "")
    return AccountReview(
        **account_public(account).model_dump(),
        name=data.name,
        identity_number=data.identity_number,
        contact=data.contact,
    )


@router.post("/{account_id}/verification", response_model=AccountPublic)
def verify_account(
    account_id: str,
    body: AccountVerification,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOrReviewer,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Confirm who the account's person is. An institution links it to the learner whose record it
    holds (same identity number; otherwise 403 ``record-not-held``); a reviewer who saw the
    documents links it to the learner with that identity number, registering the person if needed
    (only a reviewer of the account's district or of the city centre: 403 ``account-outside-district``).
    Needs an `Idempotency-Key`."""

    def work() -> tuple[int, AccountPublic]:
        if who.role is Role.institution:
            account = verification.verify_by_institution(
                session,
                identity_key=ctx.identity_key,
                master_key=ctx.secrets.master_key,
                account_id=account_id,
                institution_id=who.subject or "",
            )
        else:
            account = verification.verify_at_subcentre(
                session,
                identity_key=ctx.identity_key,
                master_key=ctx.secrets.master_key,
                account_id=account_id,
                reviewer_id=who.subject or "",
                documents=body.documents,
            )
        return 200, account_public(account)

    return idempotent.run(
        session,
        who,
        idempotency_key,
        method="POST",
        path=f"/api/v1/accounts/{account_id}/verification",
        request=body.model_dump(),
        work=work,
    )
