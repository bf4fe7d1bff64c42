import json
from collections.abc import AsyncIterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from creditbank.auth.deps import InstitutionOnly, PostingInstitution, UploadingInstitution, forget_admission
from creditbank.auth.service import Principal
from creditbank.db import transaction
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep, request_lang
from creditbank.errors import PROBLEM_MEDIA_TYPE, Forbidden, Unauthenticated
from creditbank.i18n import msg
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.ledger import idempotency
from creditbank.ledger.models import JournalTransaction
from creditbank.limits import UPLOAD, Heavy, body_limit
from creditbank.outcomes import corrections, grouped, idempotent, opening, pipeline, records, service
from creditbank.outcomes.batch import ParsedRow
from creditbank.outcomes.decision_schemas import CorrectionPublic, RevocationPublic
from creditbank.outcomes.schemas import (
    BatchSummary,
    OutcomeCreate,
    OutcomePublic,
    RevokeRequest,
)
from creditbank.outcomes.views import ledger_ref, outcome_public
from creditbank.problems import streamed_problem

router = APIRouter(prefix="/api/v1/outcomes", tags=["outcomes"])


def acting_institution(session: Any, who: Principal) -> Institution:
    if who.subject is None:  # pragma: no cover - institution tokens always have a subject
        raise Forbidden(msg("detail.outcomes.endpoints.token_names_no_institution"))
    return institutions.lookup(session, who.subject)


class BodyReadingStreamingResponse(StreamingResponse):
    """A streamed answer whose generator is still reading the request body.

    Starlette's :class:`StreamingResponse` (under ASGI < 2.4, which uvicorn speaks) listens for the
    client's disconnect by calling ``receive()`` beside the generator; that listener takes the
    request body's later messages for itself, and an upload longer than its first chunk lost rows.
    This one streams without the listener: the generator's own reads of the body see a disconnect.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.stream_response(send)
        except OSError:
            raise ClientDisconnect() from None
        if self.background is not None:
            await self.background()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OutcomePublic,
    responses={
        status.HTTP_429_TOO_MANY_REQUESTS: {
            "description": "Posting by identity number: the institution was told too often in the last"
            " minute that no learner has the number it sent (`Retry-After` says when to retry)"
        }
    },
)
def post_outcome(
    body: OutcomeCreate,
    request: Request,
    ctx: ContextDep,
    who: PostingInstitution,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Post one outcome. It is recognised by the rules in force (or sent to review), and its credits
    enter the ledger, all in one transaction. Needs an `Idempotency-Key`."""
    # keyed content hash, not the body: the body may hold an identity number and a name
    content, before = service.content_hashes(ctx, body)
    fingerprint = {"content": content}
    also = [{"content": c} for c in before]
    path, lang = request.url.path, request_lang(request)

    def request_hashes() -> tuple[str, list[str]]:
        """The request's idempotency fingerprint, and its other forms (see :func:`idempotent.run`)."""
        method, at = "POST", "/api/v1/outcomes"
        return idempotency.fingerprint(method, at, fingerprint), [
            idempotency.fingerprint(method, at, other) for other in also
        ]

    # The request has no transaction of its own (its guard read the token outside any): everything
    # below runs in the posting's transaction, its group's or its own, and starts there by reading
    # the institution with the token, so a token revoked since the guard admitted it is refused.
    def admitted(db: Session) -> Institution | Response:
        """The acting institution, or the "no learner with that number" answer to give (answered,
        not raised: the look-up's log row is committed with the answer)."""
        institution = live_institution(db, who)
        missing = service.unknown_number(db, ctx, institution, body)
        if missing is None:
            return institution
        return JSONResponse(
            missing.to_problem(instance=path, lang=lang),
            status_code=missing.status,
            media_type=PROBLEM_MEDIA_TYPE,
        )

    def stage(db: Session) -> grouped.Staged:
        # the institution, the key's claim and staging's first reads in one round trip where it can
        opened = opening.open_posting(db, who, idempotency_key, *request_hashes(), body)
        if opened is None:  # step by step
            institution = admitted(db)
            if isinstance(institution, Response):
                answered = institution
                return grouped.Staged([], lambda _db, _txs: answered)
            key = idempotency.check_key(idempotency_key)
            replayed = idempotent.claim(
                db, who, key, method="POST", path="/api/v1/outcomes", request=fingerprint, also=also
            )
        else:
            institution, replayed, key = opened.institution, opened.replayed, idempotency_key or ""
        if replayed is not None:
            return grouped.Staged([], lambda _db, _txs: replayed)
        read = None if opened is None else opened.read
        staged = service.stage_rows(db, ctx, institution, [(1, body)], hashed={1: content}, read=read)
        [result] = staged.results
        if result.error is not None:
            raise result.error

        def respond(db: Session, appended: list[JournalTransaction]) -> grouped.Answered:
            service.attach(staged, appended)
            return grouped.Answered(*idempotent.answer_later(who, key, *_answer(db, result)))

        return grouped.Staged(staged.entries, respond)

    def alone() -> Response:
        with contextmanager(transaction)(ctx.sessions) as db:
            institution = admitted(db)
            if isinstance(institution, Response):
                return institution
            return idempotent.post(
                db,
                who,
                idempotency_key,
                "/api/v1/outcomes",
                fingerprint,
                lambda: _answer(db, service.post_one(db, ctx, institution, body)),
                also=also,
            )

    group_key = (idempotent.scope_of(who), idempotency_key or "")
    try:
        return postings(request).submit(grouped.Posting(group_key, stage, alone))
    except Unauthenticated:  # the token was revoked: its next request is refused by the guard at once
        forget_admission(request)
        raise


def live_institution(session: Session, who: Principal) -> Institution:
    """:func:`acting_institution`, read with the caller's token, which must still be live.

    Raises:
        Unauthenticated: the token was revoked since the request's guard read it.
    """
    if who.subject is None or who.token_id is None:  # pragma: no cover - institution tokens have both
        raise Forbidden(msg("detail.outcomes.endpoints.token_names_no_institution"))
    found = institutions.lookup_for_token(session, who.subject, who.token_id)
    if found is None:
        raise Unauthenticated(msg("detail.auth.deps.token_unknown_revoked"))
    return found


def postings(request: Request) -> grouped.GroupCommit:
    """The app's group commit of single postings (one per app: its requests share groups)."""
    found: grouped.GroupCommit = request.app.state.postings
    return found


def _answer(session: Session, result: service.RowResult) -> tuple[int, OutcomePublic]:
    """The status and body of a posted outcome's answer (201 created, 200 posted before)."""
    assert result.outcome is not None
    _, rec = (
        records.get_outcome(session, result.outcome.id)
        if result.recognition is None
        else (None, result.recognition)
    )
    public = outcome_public(session, result.outcome, rec, result.tx)
    return (status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK), public


@router.get("/{outcome_id}", response_model=OutcomePublic)
def get_outcome(outcome_id: str, session: SessionDep, who: InstitutionOnly) -> OutcomePublic:
    """One outcome this institution posted, with its recognition and ledger reference."""
    outcome, rec = records.get_outcome(session, outcome_id)
    if outcome.institution_id != who.subject:
        raise records.OutcomeNotFound(
            msg("detail.outcomes.endpoints.no_outcome_yours", outcome_id=outcome_id)
        )
    return outcome_public(session, outcome, rec)


@router.post("/{outcome_id}/revoke", response_model=RevocationPublic)
def revoke_outcome(
    outcome_id: str,
    body: RevokeRequest,
    session: SessionDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Revoke an outcome you posted: its credits are reversed in the ledger (a conversion of them
    first), its recognition becomes `revoked`, and the learner's archive shows when and why. Needs
    an `Idempotency-Key`. Revoked and superseded outcomes are final (409)."""

    def work() -> tuple[int, RevocationPublic]:
        done = corrections.revoke(session, outcome_id, who.subject or "", body.reason)
        refs = [ref for tx in done.ledger if (ref := ledger_ref(session, tx)) is not None]
        return 200, RevocationPublic(
            outcome=outcome_public(session, done.outcome, done.recognition), ledger=refs
        )

    return idempotent.run(
        session,
        who,
        idempotency_key,
        method="POST",
        path=f"/api/v1/outcomes/{outcome_id}/revoke",
        request=body.model_dump(mode="json"),
        work=work,
    )


@router.post("/{outcome_id}/correct", status_code=status.HTTP_201_CREATED, response_model=CorrectionPublic)
def correct_outcome(
    outcome_id: str,
    body: OutcomeCreate,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Correct an outcome you posted by posting the full corrected outcome. Nothing is edited: the
    old outcome becomes `superseded` (its credits reversed) and the new one is posted with
    `supersedes_id`, in one transaction. Give a new `reference`, or repeat the old one: it is then
    stored as `<reference>~c<N>`. Needs an `Idempotency-Key`."""

    def work() -> tuple[int, CorrectionPublic]:
        institution = acting_institution(session, who)
        done = corrections.correct(session, ctx, institution, outcome_id, body)
        assert done.new.outcome is not None and done.new.recognition is not None
        refs = [ref for tx in done.ledger if (ref := ledger_ref(session, tx)) is not None]
        return status.HTTP_201_CREATED, CorrectionPublic(
            outcome=outcome_public(session, done.new.outcome, done.new.recognition, done.new.tx),
            superseded=outcome_public(session, done.old, done.old_recognition),
            changes=done.changes,
            ledger=refs,
        )

    content, before = service.content_hashes(ctx, body)
    return idempotent.run(
        session,
        who,
        idempotency_key,
        method="POST",
        path=f"/api/v1/outcomes/{outcome_id}/correct",
        request={"content": content},
        work=work,
        also=[{"content": c} for c in before],
    )


class BatchReport(BatchSummary):
    pass


def _batch_format(content_type: str) -> pipeline.Format:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return "csv"
    if media == pipeline.XLSX_MEDIA_TYPE:
        return "xlsx"
    return "json"


@router.post(
    "/batch",
    dependencies=[Heavy],
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
        **body_limit(UPLOAD),
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/OutcomeCreate"}}
                },
                "text/csv": {"schema": {"type": "string"}},
                pipeline.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
)
async def post_batch(request: Request, ctx: ContextDep, who: UploadingInstitution) -> StreamingResponse:
    """Post many outcomes: JSON lines or a JSON array, CSV (`text/csv`: UTF-8 or GB18030, the field
    names or their Chinese/English labels as the header) or an XLSX workbook; 10,000+ rows a
    request, read incrementally (XLSX is read whole).
    Each row succeeds or fails on its own; each chunk of rows commits on its own. Re-sending rows
    with the same references applies nothing twice (they come back as `duplicate`).

    The per-row report is streamed as chunks are posted. The first chunk is read and posted before
    the answer starts, so an upload that is malformed, too large or too long from its start gets a
    4xx status; a problem found later (the body passing its size limit or the row cap, the body
    breaking off, the database going away) ends the report with an `error` problem instead, and
    the chunks before it stay posted."""
    institution_id = who.subject or ""
    summary = pipeline.new_summary()
    fmt = _batch_format(request.headers.get("content-type", ""))
    parsed_chunks = pipeline.chunks(request.stream(), fmt, max_rows=ctx.settings.batch_max_rows)

    async def post(parsed: list[ParsedRow]) -> bytes:
        reports = await run_in_threadpool(pipeline.post_chunk, ctx, institution_id, parsed)
        for report in reports:
            summary.add(report.status, report.recognition)
        return b",".join(report.model_dump_json().encode() for report in reports)

    first = await anext(parsed_chunks, None)
    head = await post(first) if first is not None else b""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"rows":[' + head
        separator = b"," if head else b""
        error: dict[str, Any] | None = None
        try:
            async for parsed in parsed_chunks:
                block = await post(parsed)
                yield separator + block
                separator = b","
        except Exception as exc:  # the answer has started: the problem goes into the report
            error = streamed_problem(exc, ctx.settings, request.url.path)
        tail = b'],"summary":' + summary.model_dump_json().encode()
        if error is not None:
            tail += b',"error":' + json.dumps(error).encode()
        yield tail + b"}"

    return BodyReadingStreamingResponse(body(), media_type="application/json")
