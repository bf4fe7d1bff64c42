"""What the application routes (API and pages) share: reading the form's claim and files, and the
public shape of an application."""

from typing import Annotated

from fastapi import Form, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlmodel import Session, col, select

from creditbank.applications import claim_fields, evidence, service
from creditbank.applications.schemas import ApplicationPublic, EvidencePublic
from creditbank.config import Settings
from creditbank.outcomes.models import Application, ApplicationFile, Outcome, OutcomeEvent, Recognition
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.outcomes.views import outcome_public

Text = Annotated[str, Form(max_length=300)]


def state_of(rec: Recognition) -> str:
    """One word for where an application stands."""
    return rec.stage or rec.status if rec.status == "review" else rec.status


def evidence_public(row: ApplicationFile) -> EvidencePublic:
    return EvidencePublic(
        id=row.id,
        filename=row.filename,
        media_type=row.media_type,
        size=row.size,
        sha256=row.sha256,
        round=row.round,
        url=f"/applications/{row.application_id}/evidence/{row.id}",
        created_at=row.created_at,
    )


def application_public(
    session: Session, application: Application, outcome: Outcome, rec: Recognition
) -> ApplicationPublic:
    events = session.exec(
        select(OutcomeEvent).where(col(OutcomeEvent.outcome_id) == outcome.id).order_by(col(OutcomeEvent.id))
    ).all()
    return ApplicationPublic(
        id=application.id,
        district=application.district,
        issuer_name=application.issuer_name,
        issuer_kind=application.issuer_kind,
        statement=application.statement,
        rounds=application.rounds,
        state=state_of(rec),
        outcome=outcome_public(session, outcome, rec),
        evidence=[evidence_public(f) for f in service.files_of(session, application.id)],
        history=[
            {"kind": e.kind, "actor_role": e.actor_role, "at": e.at, "zh": e.detail_zh, "en": e.detail_en}
            for e in events
        ],
        created_at=application.created_at,
    )


def claim_of(
    *,
    outcome_type: str,
    title: str,
    achieved_on: str,
    issuer_kind: str,
    issuer_name: str = "",
    statement: str = "",
    district: str = "",
    given: dict[str, str] | None = None,
) -> service.Claim:
    """The learner's claim, validated as an institution's posting of the same outcome would be, with
    the outcome type's own fields (:mod:`.claim_fields`: only that type's are kept, its required
    ones must be there). ``district``, when given, is checked against the learner's own later.

    Raises:
        RequestValidationError: a field is missing or not valid (422, each field named).
    """
    facts, errors = claim_fields.facts_of(outcome_type, given or {})
    columns = {k: v for k, v in facts.items() if k in claim_fields.COLUMNS}
    attributes = {k: v for k, v in facts.items() if k not in claim_fields.COLUMNS}
    body = {
        "learner_id": "self",
        "reference": "application",
        "outcome_type": outcome_type,
        "title": title,
        "achieved_on": achieved_on,
        **columns,
    }
    item: OutcomeCreate | None = None
    try:
        item = OutcomeCreate.model_validate(body)
    except ValidationError as exc:
        named = {e["loc"][-1] for e in errors}  # each field said once; the type's own check first
        errors.extend(
            dict(e) for e in exc.errors() if (e["loc"][-1] not in named if e.get("loc") else not named)
        )
    if issuer_kind not in service.ISSUER_KINDS:
        errors.append(
            {
                "loc": ("body", "issuer_kind"),
                "msg": f"one of {', '.join(service.ISSUER_KINDS)}",
                "type": "enum",
                "input": issuer_kind,
            }
        )
    if errors or item is None:
        raise RequestValidationError(
            [{**e, "loc": ("body", *[p for p in e.get("loc", ()) if p != "body"])} for e in errors]
        )
    return service.Claim(
        outcome_type=item.outcome_type,
        title=item.title.strip(),
        achieved_on=item.achieved_on,
        district=district.strip() or None,
        issuer_kind=issuer_kind,
        issuer_name=issuer_name.strip(),
        hours=item.hours,
        level=item.level,
        score=item.score,
        grade=item.grade,
        field=item.field,
        course_code=item.course_code,
        identity_verified=item.identity_verified,
        attributes=dict(attributes) or None,
        statement=statement.strip(),
    )


async def read_files(uploads: list[UploadFile], settings: Settings) -> list[evidence.Evidence]:
    """The uploaded files, each read up to one byte past its limit, then checked by content.

    Raises:
        what :func:`creditbank.applications.evidence.check_all` raises.
    """
    files = []
    for upload in uploads:
        if not upload.filename and not upload.size:
            continue  # an empty file field of a form
        data = await upload.read(settings.application_file_max_bytes + 1)
        files.append((upload.filename or "", upload.content_type, data))
    return evidence.check_all(
        files,
        max_file=settings.application_file_max_bytes,
        max_total=settings.application_max_bytes,
        max_files=settings.application_max_files,
    )
