"""The statistics as the API returns them."""

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

from creditbank.dashboards.service import Counts, Dashboard


class CountsPublic(BaseModel):
    accounts: int = Field(description="learner accounts opened (registered by an institution of the scope)")
    posted: int = Field(description="outcomes posted")
    recognised: int = Field(description="outcomes recognised now (revoked and superseded ones not counted)")
    recognised_credits: Decimal = Field(description="credits of the recognised outcomes")
    conversions: int = Field(description="conversions made by a destination institution of the scope")
    conversion_credits: Decimal = Field(description="credits counted towards programmes by those conversions")
    transfers: int = Field(description="transfer requests to an institution of the scope")
    backlog_district: int = Field(description="outcomes waiting for the district stage of review")
    backlog_city: int = Field(description="outcomes waiting for the city stage of review")
    decided: int = Field(description="reviews a reviewer ended (recognised or rejected)")
    turnaround_days: Decimal | None = Field(
        description="mean days from posting to the end of those reviews; null when none ended"
    )

    @classmethod
    def of(cls, c: Counts) -> "CountsPublic":
        return cls(
            accounts=c.accounts,
            posted=c.posted,
            recognised=c.recognised,
            recognised_credits=c.recognised_credits,
            conversions=c.conversions,
            conversion_credits=c.conversion_credits,
            transfers=c.transfers,
            backlog_district=c.backlog_district,
            backlog_city=c.backlog_city,
            decided=c.decided,
            turnaround_days=c.turnaround_days,
        )


class MonthPublic(CountsPublic):
    month: dt.date = Field(description="first day of the month (Beijing time)")


class DistrictPublic(CountsPublic):
    district: str = Field(
        description="the district (Chinese name); '' for accounts no institution registered"
    )


class Amount(BaseModel):
    key: str = Field(description="the category, or the level (1-7; 0: none)")
    outcomes: int = Field(description="recognised outcomes")
    credits: Decimal = Field(description="their credits")


class DashboardPublic(BaseModel):
    district: str | None = Field(description="the district the figures cover; null: every district")
    institution_id: str | None = Field(description="the institution the figures cover; null: all of them")
    total: CountsPublic
    by_month: list[MonthPublic]
    by_district: list[DistrictPublic]
    credits_by_category: list[Amount]
    credits_by_level: list[Amount]
    posted_by_type: dict[str, int] = Field(description="outcomes posted, by outcome type")

    @classmethod
    def of(cls, board: Dashboard) -> "DashboardPublic":
        return cls(
            district=board.scope.district,
            institution_id=board.scope.institution_id,
            total=CountsPublic.of(board.total),
            by_month=[
                MonthPublic(month=m, **CountsPublic.of(c).model_dump()) for m, c in board.by_month.items()
            ],
            by_district=[
                DistrictPublic(district=d, **CountsPublic.of(c).model_dump())
                for d, c in board.by_district.items()
            ],
            credits_by_category=[
                Amount(key=k, outcomes=n, credits=s) for k, (n, s) in board.credits_by_category.items()
            ],
            credits_by_level=[
                Amount(key=str(k), outcomes=n, credits=s) for k, (n, s) in board.credits_by_level.items()
            ],
            posted_by_type=board.posted_by_type,
        )
