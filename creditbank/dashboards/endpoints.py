from typing import Annotated

from fastapi import APIRouter, Depends, Query

from creditbank.auth.deps import RoleGuard
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.dashboards import service
from creditbank.dashboards.schemas import DashboardPublic
from creditbank.deps import SessionDep

router = APIRouter(prefix="/api/v1", tags=["statistics"])

StatisticsReader = Annotated[Principal, Depends(RoleGuard(Role.admin, Role.reviewer, Role.institution))]
DistrictFilter = Annotated[
    str | None,
    Query(max_length=60, description="only this district (name or GB/T 2260 code); city centre only"),
]
InstitutionFilter = Annotated[str | None, Query(max_length=40, description="only this institution")]


@router.get("/statistics", response_model=DashboardPublic)
def statistics(
    session: SessionDep,
    who: StatisticsReader,
    district: DistrictFilter = None,
    institution_id: InstitutionFilter = None,
) -> DashboardPublic:
    """The statistics (数据看板): accounts opened, outcomes posted and recognised, credits by category and
    level, conversions and transfers, the review backlog and turnaround, by month and district. The
    city centre (admins, reviewers of no district) sees every district and may filter by one or by
    an institution; a district sub-centre's reviewer sees only their district; an institution only
    itself. Asking for figures outside one's own is a 403 `dashboard-out-of-scope`."""
    scope = service.scope_for(session, who, district, institution_id)
    return DashboardPublic.of(service.dashboard(session, scope))
