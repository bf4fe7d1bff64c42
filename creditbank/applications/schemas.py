"""Request and response shapes of applications for recognition."""

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from creditbank.outcomes.schemas import OutcomePublic


class EvidencePublic(BaseModel):
    """One evidence file (its bytes at ``url``, for the learner and the reviewers of its stage)."""

    id: str = Field(description="evd_...")
    filename: str = Field(description="the file's name as uploaded (made safe)")
    media_type: str = Field(description="application/pdf, image/jpeg or image/png, read from the content")
    size: int = Field(description="bytes")
    sha256: str = Field(description="sha256:<hex> of the file")
    round: int = Field(description="the submission it came with (1: the application, 2..: resubmissions)")
    url: str = Field(description="where to view it (inline, in the browser)")
    created_at: dt.datetime


class ApplicationPublic(BaseModel):
    """An application for recognition, its outcome as posted and reviewed, and its evidence."""

    id: str = Field(description="apl_...")
    district: str = Field(description="the district whose sub-centre decides the first stage")
    issuer_name: str = Field(description="who issued the outcome, as the learner says")
    issuer_kind: str = Field(description="the kind of issuer the rules saw")
    statement: str = Field(description="the learner's notes to the reviewers")
    rounds: int = Field(description="submissions so far")
    state: str = Field(
        description="district or city (in review at that stage), returned (waiting for the learner's "
        "material), recognised, rejected, revoked or superseded"
    )
    outcome: OutcomePublic
    evidence: list[EvidencePublic]
    history: list[dict[str, Any]] = Field(description="every step, oldest first: kind, who, when, words")
    created_at: dt.datetime


class ApplicationSummary(BaseModel):
    id: str
    outcome_id: str
    title: str
    state: str
    credits: Decimal = Field(description="credits proposed (in review) or recognised")
    created_at: dt.datetime
