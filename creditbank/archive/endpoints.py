from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import JSONResponse
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from creditbank.archive import erasure, schemas
from creditbank.archive import service as archive
from creditbank.auth.deps import ArchiveReader, RoleGuard
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.db import standby_first
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep
from creditbank.errors import Forbidden
from creditbank.i18n import msg
from creditbank.learners import service as learners
from creditbank.limits import Heavy
from creditbank.outcomes import idempotent

router = APIRouter(prefix="/api/v1/learners", tags=["archive"])

LearnerOrAdmin = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.admin))]


@router.get("/{learner_id}/archive", response_model=schemas.Archive)
def get_archive(learner_id: str, session: SessionDep, ctx: ContextDep, who: ArchiveReader) -> schemas.Archive:
    """The learner's lifelong learning archive: every outcome with its recognition and why, every
    credit lot, balances by category and framework level, conversions, certificates, and a ledger
    reference for every journal entry. For the learner, institutions that registered or posted for
    them, admins and auditors; every read by someone other than the learner is logged. The signed
    certificates themselves are in it only for the learner."""
    learner = learners.authorise_read(session, who, learner_id, "archive")
    own = who.role is Role.learner
    if ctx.read_sessions is None:
        return archive.build_archive(session, ctx.secrets.master_key, learner, with_credentials=own)

    # the read is checked and logged on the primary above; the archive itself, which may be a
    # moment stale, is read on the standby (see CREDITBANK_READ_DATABASE_URL)
    def read(sessions: sessionmaker[Session]) -> schemas.Archive:
        with sessions() as standby:
            return archive.build_archive(standby, ctx.secrets.master_key, learner, with_credentials=own)

    return standby_first(ctx.read_sessions, ctx.sessions, read)


@router.get(
    "/{learner_id}/archive/export",
    dependencies=[Heavy],
    response_model=schemas.ArchiveExport,
    responses={200: {"description": "the archive as a JSON file (Content-Disposition: attachment)"}},
)
def export_archive(learner_id: str, session: SessionDep, ctx: ContextDep, who: LearnerOrAdmin) -> Any:
    """Download everything the bank holds about the learner as one JSON file: the archive, the
    personal data in the vault, and who else read it (data portability). The learner or an admin."""
    learner = learners.authorise_read(session, who, learner_id, "archive-export")
    own = who.role is Role.learner
    export = archive.build_export(session, ctx.secrets.master_key, learner, with_credentials=own)
    filename = f"creditbank-archive-{learner.id}.json"
    return JSONResponse(
        export.model_dump(mode="json"),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/{learner_id}/erasure", response_model=schemas.ErasureResult)
def erase_learner(
    learner_id: str,
    session: SessionDep,
    ctx: ContextDep,
    who: LearnerOrAdmin,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Erase the learner's personal data (crypto-shredding): the vault's data key and sealed record
    are deleted, lookup by identity number stops, the learner's tokens are revoked, and a tombstone
    without personal data is appended to the ledger. Outcomes, credits and the ledger stay, under the
    random learner id. The learner themselves or an admin; needs an `Idempotency-Key`."""
    if who.role is Role.learner and who.subject != learner_id:
        raise Forbidden(msg("detail.archive.endpoints.learner_may_erase_only"))

    def work() -> tuple[int, schemas.ErasureResult]:
        result, _ = erasure.erase(session, learner_id, requested_by=who.role)
        # after the commit (before the response is sent) and outside any transaction
        background.add_task(erasure.vacuum_after_erasure, ctx.engine)
        return 200, result

    return idempotent.run(
        session,
        who,
        idempotency_key,
        method="POST",
        path=f"/api/v1/learners/{learner_id}/erasure",
        request={"learner": learner_id},
        work=work,
    )
