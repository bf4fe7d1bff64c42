"""The public, unauthenticated interface of the logs (formats fixed by DESIGN.md)."""

import base64
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from creditbank.auth.deps import Public
from creditbank.context import AppContext
from creditbank.db import direct_reader, standby_first
from creditbank.deps import ContextDep
from creditbank.ledger.models import JournalTransaction
from creditbank.transparency import store
from creditbank.transparency.models import SignedCheckpoint
from creditbank.transparency.schemas import ConsistencyProof, Entries, Entry, InclusionProof, LogInfo

router = APIRouter(prefix="/logs", tags=["transparency log"], dependencies=[Public])

PAGE = 1000
MAX_INDEX = 2**63 - 1  # sizes and indexes are BIGINT
T = TypeVar("T")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Every route here reads what may be a little stale: with a standby configured
# (``CREDITBANK_READ_DATABASE_URL``) they read there first, and the primary answers what the standby
# has not replayed yet (a checkpoint it does not hold, entries past its latest checkpoint).
BEHIND = (store.NoCheckpoint, store.BadProofRequest, store.LogNotFound)


class _StandbyBehind(Exception):
    """The standby's latest checkpoint ends before the entries asked for."""


def _read_session(
    ctx: AppContext, read: Callable[[Session, bool], T], behind: tuple[type[Exception], ...] = BEHIND
) -> T:
    """``read(session, on_standby)`` on the standby first (see :func:`standby_first`)."""

    def run(sessions: sessionmaker[Session]) -> T:
        with sessions() as session:
            return read(session, sessions is ctx.read_sessions)

    return standby_first(ctx.read_sessions, ctx.sessions, run, behind)


@router.get("", response_model=list[LogInfo])
def list_logs(ctx: ContextDep) -> list[LogInfo]:
    """Every log with its verifier key and published size."""

    def read(session: Session, _on_standby: bool) -> list[LogInfo]:
        out = []
        for log in store.list_logs(session):
            latest = store.latest_checkpoint(session, log.id)
            out.append(
                LogInfo(
                    id=log.id,
                    origin=log.origin,
                    verifier_key=store.verifier(log).to_text(),
                    size=latest.size if latest else 0,
                )
            )
        return out

    return _read_session(ctx, read, ())


def _latest_note(ctx: AppContext, log: str) -> str:
    def read(sessions: sessionmaker[Session]) -> str:
        with direct_reader(sessions) as db:
            return store.published(db, log, None).note

    return standby_first(ctx.read_sessions, ctx.sessions, read, BEHIND)


@router.get("/{log}/checkpoint", response_class=PlainTextResponse)
async def checkpoint(log: str, ctx: ContextDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)."""
    note = await run_in_threadpool(_latest_note, ctx, log)
    return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})


@router.get("/{log}/entries", response_model=Entries)
def entries(
    log: str,
    ctx: ContextDep,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, description="first index")] = 0,
    end: Annotated[
        int | None, Query(ge=0, le=MAX_INDEX, description="end index, exclusive; at most 1,000 per page")
    ] = None,
) -> Entries:
    """Leaves of the published tree, in order."""

    def read(session: Session, on_standby: bool) -> Entries:
        store.get_log(session, log)
        latest = store.latest_checkpoint(session, log)
        published = latest.size if latest else 0
        wanted = min(end if end is not None else start + PAGE, start + PAGE)
        if on_standby and end is not None and published < wanted:
            raise _StandbyBehind  # the primary may have published further
        stop = min(wanted, published)
        if stop <= start:
            return Entries(entries=[])
        rows = session.exec(
            select(JournalTransaction.seq, JournalTransaction.leaf)
            .where(col(JournalTransaction.log_id) == log, col(JournalTransaction.seq) >= start)
            .where(col(JournalTransaction.seq) < stop)
            .order_by(col(JournalTransaction.seq))
        ).all()
        hashes = store.leaf_hashes(session, log, start, stop)
        return Entries(
            entries=[
                Entry(index=int(i), leaf=b64(bytes(leaf)), leaf_hash=b64(hashes.get(int(i), b"")))
                for i, leaf in rows
            ]
        )

    return _read_session(ctx, read, (*BEHIND, _StandbyBehind))


def _inclusion(ctx: AppContext, log: str, index: int, size: int | None) -> bytes:
    def read(sessions: sessionmaker[Session]) -> tuple[bytes, list[bytes], SignedCheckpoint]:
        with direct_reader(sessions) as db:
            return store.inclusion(db, log, index, size)

    leaf_hash, proof, cp = standby_first(ctx.read_sessions, ctx.sessions, read, BEHIND)
    body = InclusionProof(
        index=index, size=cp.size, leaf_hash=b64(leaf_hash), proof=[b64(p) for p in proof], checkpoint=cp.note
    )
    return body.model_dump_json().encode()


def _consistency(ctx: AppContext, log: str, first: int, second: int | None) -> bytes:
    def read(sessions: sessionmaker[Session]) -> tuple[int, list[bytes], SignedCheckpoint]:
        with direct_reader(sessions) as db:
            return store.consistency(db, log, first, second)

    size, proof, cp = standby_first(ctx.read_sessions, ctx.sessions, read, BEHIND)
    body = ConsistencyProof(first=first, second=size, proof=[b64(p) for p in proof], checkpoint=cp.note)
    return body.model_dump_json().encode()


# The proof routes are the log's hottest: each runs its reads in ONE trip to the thread pool, on a
# pooled connection in autocommit mode (nothing to begin or roll back), not a hop per dependency.


@router.get("/{log}/proof/inclusion", response_model=InclusionProof)
async def inclusion_proof(
    log: str,
    ctx: ContextDep,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    size: Annotated[
        int | None, Query(ge=1, le=MAX_INDEX, description="a published checkpoint's size; default the latest")
    ] = None,
) -> Response:
    """RFC 9162 inclusion proof of leaf ``index``, against a published checkpoint (returned with it)."""
    body = await run_in_threadpool(_inclusion, ctx, log, index, size)
    return Response(body, media_type="application/json")


@router.get("/{log}/proof/consistency", response_model=ConsistencyProof)
async def consistency_proof(
    log: str,
    ctx: ContextDep,
    first: Annotated[int, Query(ge=1, le=MAX_INDEX)],
    second: Annotated[
        int | None, Query(ge=1, le=MAX_INDEX, description="a published checkpoint's size; default the latest")
    ] = None,
) -> Response:
    """RFC 9162 consistency proof from ``first`` to a published ``second``."""
    body = await run_in_threadpool(_consistency, ctx, log, first, second)
    return Response(body, media_type="application/json")
