"""The statistics' summary (数据看板): counts and sums by month, district, institution and kind.

How this works
--------------
On PostgreSQL, statement-level triggers on the base tables (learners, outcomes, recognitions,
conversions, transfer requests) append what each statement changed, already grouped, to
``dashboard_deltas`` in the same transaction as the change (on outcome events, a row trigger whose
``WHEN`` admits a reviewer's or an admin's decision only, so a posting's history row calls nothing):
a recognition that moves from review to recognised appends -1 under its old status and +1 under its
new one. Appending never waits for
another writer (no counter row is locked on the posting path). A dashboard read first folds the
deltas into ``dashboard_figures`` (:func:`creditbank.dashboards.service.refresh`: one statement
deletes them and adds them up, at three grains: per institution with every column; per district
and month, ``institution_id = '#m'``; per district, outcome type, category and level,
``institution_id = '#k'``), then reads only the figures: an institution's rows, or a few thousand
district rows, whatever the number of outcomes. On a read-only connection (a standby), where the fold
cannot write, a read adds the pending deltas to the figures as it reads them. On SQLite (the
embedded, single-user default) the figures are read straight from the base tables.

Months are calendar months in Beijing time. A figure is counted under the district its institution
belonged to when the row was written.
"""

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Numeric, SmallInteger, String
from sqlmodel import Field, SQLModel

MEASURES = ("accounts", "posted", "recognition", "conversion", "transfer", "turnaround")
"""``accounts``: learners registered (by the registering institution); ``posted``: outcomes posted;
``recognition``: outcomes by their current status, stage, category and level, with credits;
``conversion``: conversions by the destination, with credits; ``transfer``: transfer requests by
the destination and status; ``turnaround``: reviews ended by a reviewer (recognised or rejected),
with the seconds from posting to that decision."""


class _Figure(SQLModel):
    # the key's order serves the reads: one institution, or the district rows of one or every district
    institution_id: str = Field(
        primary_key=True, max_length=40, description="'#m', '#k': the district rows (see above)"
    )
    district: str = Field(primary_key=True, max_length=60, description="Chinese name; '' when unknown")
    month: dt.date = Field(primary_key=True, description="first day of the month (Beijing time)")
    measure: str = Field(primary_key=True, sa_type=String(16), max_length=16)
    outcome_type: str = Field(primary_key=True, sa_type=String(32), max_length=32, default="")
    status: str = Field(primary_key=True, sa_type=String(16), max_length=16, default="")
    stage: str = Field(primary_key=True, sa_type=String(16), max_length=16, default="")
    category: str = Field(primary_key=True, max_length=60, default="")
    level: int = Field(primary_key=True, sa_type=SmallInteger, default=0, description="0: no level")
    n: int = Field(sa_type=BigInteger, default=0, description="how many")
    credits: Decimal = Field(sa_type=Numeric(20, 2), default=Decimal(0), description="sum of credits")
    seconds: Decimal = Field(
        sa_type=Numeric(24, 6), default=Decimal(0), description="turnaround: sum of seconds"
    )


class DashboardFigure(_Figure, table=True):
    """The folded figures (one row per key)."""

    __tablename__ = "dashboard_figures"


class DashboardDelta(SQLModel, table=True):
    """Changes not folded yet (appended by the triggers, deleted by the fold)."""

    __tablename__ = "dashboard_deltas"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    month: dt.date
    district: str = Field(max_length=60)
    institution_id: str = Field(max_length=40)
    measure: str = Field(sa_type=String(16), max_length=16)
    outcome_type: str = Field(sa_type=String(32), max_length=32, default="")
    status: str = Field(sa_type=String(16), max_length=16, default="")
    stage: str = Field(sa_type=String(16), max_length=16, default="")
    category: str = Field(max_length=60, default="")
    level: int = Field(sa_type=SmallInteger, default=0)
    n: int = Field(sa_type=BigInteger, default=0)
    credits: Decimal = Field(sa_type=Numeric(20, 2), default=Decimal(0))
    seconds: Decimal = Field(sa_type=Numeric(24, 6), default=Decimal(0))
