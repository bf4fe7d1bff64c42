"""What the learner's inbox remembers: how far it was read and how far it was mailed."""

import datetime as dt

from sqlalchemy import ForeignKey
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime


class InboxState(SQLModel, table=True):
    """One row per learner whose inbox was read or mailed. The messages themselves are not stored:
    they are the learner's own events (see :mod:`creditbank.archive.inbox`)."""

    __tablename__ = "inbox_state"

    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], primary_key=True, max_length=40)
    read_until: dt.datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="messages up to this time are read"
    )
    mailed_until: dt.datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="messages up to this time were announced by e-mail"
    )
