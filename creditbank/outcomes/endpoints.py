import tempfile
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from creditbank.auth.deps import InstitutionOnly
from creditbank.auth.service import Principal
from creditbank.db import transaction
from creditbank.deps import ContextDep, SessionDep
from creditbank.errors import Forbidden
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.ledger import idempotency
from creditbank.outcomes import service
from creditbank.outcomes.batch import ParsedRow, chunks
from creditbank.outcomes.schemas import BatchSummary, OutcomeCreate, OutcomePublic, RowReport
from creditbank.outcomes.views import outcome_public

router = APIRouter(prefix="/api/v1/outcomes", tags=["outcomes"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="a unique key per write (e.g. a UUID); retries reuse it"),
]


def acting_institution(session: Any, who: Principal) -> Institution:
    if who.subject is None:  # pragma: no cover - institution tokens always have a subject
        raise Forbidden("the token names no institution")
    return institutions.get(session, who.subject)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OutcomePublic)
def post_outcome(
    body: OutcomeCreate,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Post one outcome. It is recognised by the rules in force (or sent to review), and its credits
    enter the ledger, all in one transaction. Needs an `Idempotency-Key`."""
    key = idempotency.check_key(idempotency_key)
    scope = f"institution:{who.subject}"
    fingerprint = idempotency.fingerprint("POST", "/api/v1/outcomes", body.model_dump(mode="json"))
    stored = idempotency.claim(session, scope, key, fingerprint)
    if stored is not None:
        return JSONResponse(
            stored.body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"}
        )
    institution = acting_institution(session, who)
    [result] = service.post_rows(session, ctx, institution, [(1, body)])
    if result.error is not None:
        raise result.error
    assert result.outcome is not None
    _, rec = (
        service.get_outcome(session, result.outcome.id)
        if result.recognition is None
        else (None, result.recognition)
    )
    public = outcome_public(session, result.outcome, rec, result.tx)
    code = status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK
    payload = public.model_dump(mode="json")
    idempotency.store(session, scope, key, code, payload)
    return JSONResponse(payload, status_code=code)


@router.get("/{outcome_id}", response_model=OutcomePublic)
def get_outcome(outcome_id: str, session: SessionDep, who: InstitutionOnly) -> OutcomePublic:
    """One outcome this institution posted, with its recognition and ledger reference."""
    outcome, rec = service.get_outcome(session, outcome_id)
    if outcome.institution_id != who.subject:
        raise service.OutcomeNotFound(f"no outcome {outcome_id} of yours")
    return outcome_public(session, outcome, rec)


class BatchReport(BatchSummary):
    pass


def _report(result: service.RowResult) -> RowReport:
    return RowReport(
        row=result.row,
        reference=result.reference,
        status=result.status,
        outcome_id=result.outcome.id if result.outcome else None,
        recognition=result.recognition.status if result.recognition else None,
        credits=result.recognition.credits if result.recognition else None,
        error=result.error.to_problem() if result.error else None,
    )


@router.post(
    "/batch",
    responses={
        200: {
            "description": "per-row report",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["summary", "rows"],
                        "properties": {
                            "summary": {"$ref": "#/components/schemas/BatchSummary"},
                            "rows": {"type": "array", "items": {"$ref": "#/components/schemas/RowReport"}},
                        },
                    }
                }
            },
        }
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/OutcomeCreate"}}
                },
            },
        }
    },
)
async def post_batch(request: Request, ctx: ContextDep, who: InstitutionOnly) -> StreamingResponse:
    """Post many outcomes (JSON lines or a JSON array; 10,000+ rows a request, read incrementally).
    Each row succeeds or fails on its own; each chunk of rows commits on its own. Re-sending rows
    with the same references applies nothing twice (they come back as `duplicate`)."""
    institution_id = who.subject or ""

    def post_chunk(parsed: list[ParsedRow]) -> list[RowReport]:
        reports: dict[int, RowReport] = {}
        good = [(p.row, p.item) for p in parsed if p.item is not None]
        for p in parsed:
            if p.error is not None:
                reports[p.row] = RowReport(
                    row=p.row, reference=p.reference, status="error", error=p.error.to_problem()
                )
        if good:
            for session in transaction(ctx.sessions):
                institution = institutions.get(session, institution_id)
                for result in service.post_rows(session, ctx, institution, good):
                    reports[result.row] = _report(result)
        return [reports[p.row] for p in parsed]

    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024, mode="w+b")  # noqa: SIM115 - closed when streamed
    summary = BatchSummary(rows=0, created=0, duplicate=0, errors=0, recognised=0, review=0, rejected=0)
    first = True
    async for parsed in chunks(request.stream()):
        for report in await run_in_threadpool(post_chunk, parsed):
            summary.rows += 1
            if report.status == "created":
                summary.created += 1
                if report.recognition in ("recognised", "review", "rejected"):
                    setattr(summary, report.recognition, getattr(summary, report.recognition) + 1)
            elif report.status == "duplicate":
                summary.duplicate += 1
            else:
                summary.errors += 1
            spool.write((b"" if first else b",") + report.model_dump_json().encode())
            first = False
    spool.seek(0)

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b'{"summary":' + summary.model_dump_json().encode() + b',"rows":['
            while block := spool.read(256 * 1024):
                yield block
            yield b"]}"
        finally:
            spool.close()

    return StreamingResponse(body(), media_type="application/json")
