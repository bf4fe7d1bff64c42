"""The learner's inbox through the API (see :mod:`creditbank.archive.inbox`)."""

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field

from creditbank.archive import inbox
from creditbank.auth.deps import LearnerOnly
from creditbank.deps import ContextDep, SessionDep
from creditbank.learners import service as learners

router = APIRouter(prefix="/api/v1/learners", tags=["archive"])


class InboxItemPublic(BaseModel):
    key: str = Field(
        description="stable id of the message (event:<outcome>:<n>, transfer:…, expiry:<lot>, grant:…)"
    )
    kind: str = Field(description="recognition, review, correction, transfer, grant or expiry")
    at: dt.datetime
    text_zh: str
    text_en: str
    link: str = Field(description="the page the message is about")
    unread: bool


@router.get("/{learner_id}/inbox", response_model=list[InboxItemPublic])
def read_inbox(
    learner_id: str, session: SessionDep, ctx: ContextDep, who: LearnerOnly
) -> list[InboxItemPublic]:
    """The learner's own messages (站内信), newest first: only the learner."""
    learner = learners.authorise_read(session, who, learner_id, "inbox")
    found = inbox.items(session, ctx.secrets.master_key, learner, expiry_days=ctx.settings.expiry_notice_days)
    return [InboxItemPublic(**item.__dict__) for item in found]
