from typing import Annotated

from fastapi import APIRouter, Query, status

from creditbank.accreditation import service
from creditbank.accreditation.models import CatalogueEntry
from creditbank.accreditation.schemas import (
    CatalogueDiffPublic,
    CatalogueEntryCreate,
    CatalogueEntryEdit,
    CatalogueEntryPublic,
    CataloguePublic,
    CatalogueVersionPublic,
    ScopePublic,
    ScopeUpdate,
)
from creditbank.auth.deps import AdminOnly, InstitutionOrAdmin, Public
from creditbank.auth.models import Role
from creditbank.deps import SessionDep
from creditbank.errors import Forbidden
from creditbank.i18n import msg
from creditbank.institutions import service as institutions

router = APIRouter(tags=["catalogue of recognised outcomes"])


def _entry(row: CatalogueEntry) -> CatalogueEntryPublic:
    return CatalogueEntryPublic.model_validate(row, from_attributes=True)


def _scope(scope: service.Scope) -> ScopePublic:
    return ScopePublic(
        institution_id=scope.institution_id,
        default=scope.default,
        outcome_types={t: sorted(codes) for t, codes in sorted(scope.types.items())},
    )


@router.get("/api/v1/recognised-outcomes", response_model=CataloguePublic, dependencies=[Public])
def get_catalogue(session: SessionDep) -> CataloguePublic:
    """The catalogue of recognised outcomes (学习成果名录) in force, with its version and digest."""
    current = service.current_version(session)
    return CataloguePublic(
        version=current.version if current else 0,
        digest=current.digest if current else None,
        entries=[_entry(e) for e in service.in_force(session)],
    )


@router.post(
    "/api/v1/recognised-outcomes", status_code=status.HTTP_201_CREATED, response_model=CatalogueEntryPublic
)
def add_catalogue_entry(
    body: CatalogueEntryCreate, session: SessionDep, admin: AdminOnly
) -> CatalogueEntryPublic:
    """Add an entry to the catalogue (the city centre): a new catalogue version. A code already used
    is a 409 `catalogue-entry-exists`."""
    return _entry(service.add_entry(session, **body.model_dump(), by=admin.token_id))


@router.put("/api/v1/recognised-outcomes/{code}", response_model=CatalogueEntryPublic)
def edit_catalogue_entry(
    code: str, body: CatalogueEntryEdit, session: SessionDep, admin: AdminOnly
) -> CatalogueEntryPublic:
    """Change an entry's names, levels or rule (the city centre): a new catalogue version that keeps
    what they were. A retired entry is a 409 `catalogue-entry-retired`; an edit changing nothing a
    422 `catalogue-nothing-to-edit`."""
    return _entry(service.edit_entry(session, code, **body.model_dump(), by=admin.token_id))


@router.post("/api/v1/recognised-outcomes/{code}/retire", response_model=CatalogueEntryPublic)
def retire_catalogue_entry(code: str, session: SessionDep, admin: AdminOnly) -> CatalogueEntryPublic:
    """Retire an entry (a new catalogue version); postings naming it are then refused."""
    return _entry(service.retire_entry(session, code, by=admin.token_id))


@router.get(
    "/api/v1/recognised-outcomes/versions", response_model=list[CatalogueVersionPublic], dependencies=[Public]
)
def list_catalogue_versions(session: SessionDep) -> list[CatalogueVersionPublic]:
    """Every version of the catalogue: what changed, and the digest of the entries then in force."""
    return [CatalogueVersionPublic.model_validate(v, from_attributes=True) for v in service.versions(session)]


@router.get("/api/v1/recognised-outcomes/diff", response_model=CatalogueDiffPublic, dependencies=[Public])
def diff_catalogue(
    session: SessionDep,
    first: Annotated[int, Query(ge=0, le=1_000_000, description="the earlier catalogue version")],
    second: Annotated[int, Query(ge=0, le=1_000_000, description="the later catalogue version")],
) -> CatalogueDiffPublic:
    """What changed in the catalogue between two versions (as `creditbank rules diff --catalogue`)."""
    done = service.diff(session, first, second)
    return CatalogueDiffPublic(
        first=done.first, second=done.second, added=done.added, retired=done.retired, changed=done.changed
    )


@router.get("/api/v1/institutions/{institution_id}/accreditation", response_model=ScopePublic)
def get_accreditation(institution_id: str, session: SessionDep, who: InstitutionOrAdmin) -> ScopePublic:
    """The institution's accreditation scope: what it may post (the institution itself, or an admin)."""
    if who.role is Role.institution and who.subject != institution_id:
        raise Forbidden(msg("detail.accreditation.own_scope_only"))
    return _scope(service.scope_of(session, institutions.get(session, institution_id)))


@router.put("/api/v1/institutions/{institution_id}/accreditation", response_model=ScopePublic)
def set_accreditation(
    institution_id: str, body: ScopeUpdate, session: SessionDep, _: AdminOnly
) -> ScopePublic:
    """Set the institution's accreditation scope (admin): it replaces the default scope of its kind.
    Posting outside it is a 403 `outside-accreditation-scope` naming the scope."""
    scope = service.set_scope(
        session, institutions.get(session, institution_id), body.outcome_types, body.catalogue_codes
    )
    return _scope(scope)
