from fastapi import APIRouter, status

from creditbank.auth.deps import AdminOnly, Public
from creditbank.deps import ContextDep, SessionDep
from creditbank.institutions import service
from creditbank.institutions.models import Institution
from creditbank.institutions.schemas import InstitutionCreate, InstitutionPublic

router = APIRouter(prefix="/api/v1/institutions", tags=["institutions"])


def to_public(row: Institution, base_url: str) -> InstitutionPublic:
    return InstitutionPublic(
        **row.model_dump(exclude={"credit_code_exception_by"}), did=service.institution_did(base_url, row.id)
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=InstitutionPublic)
def register_institution(
    body: InstitutionCreate, session: SessionDep, ctx: ContextDep, admin: AdminOnly
) -> InstitutionPublic:
    """Register an institution (admin). A code failing GB 32100 needs `credit_code_exception`."""
    row = service.register(
        session,
        name_zh=body.name_zh,
        name_en=body.name_en,
        credit_code=body.credit_code,
        kind=body.kind,
        district=body.district,
        exception_reason=body.credit_code_exception,
        admin_subject=admin.token_id,
    )
    return to_public(row, ctx.settings.base_url)


@router.get("", response_model=list[InstitutionPublic], dependencies=[Public])
def list_institutions(session: SessionDep, ctx: ContextDep) -> list[InstitutionPublic]:
    """The public register of institutions (verifiers use it to trust issuers)."""
    return [to_public(r, ctx.settings.base_url) for r in service.list_all(session)]


@router.get("/{institution_id}", response_model=InstitutionPublic, dependencies=[Public])
def get_institution(institution_id: str, session: SessionDep, ctx: ContextDep) -> InstitutionPublic:
    """One institution of the public register."""
    return to_public(service.get(session, institution_id), ctx.settings.base_url)
