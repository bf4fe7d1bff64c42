"""What posting reads before it writes, read in one round trip on PostgreSQL (lookups.read_ahead), is
what the separate reads give."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from creditbank.accreditation import service as accreditation
from creditbank.context import AppContext
from creditbank.institutions import service as institutions
from creditbank.outcomes import lookups, service
from creditbank.outcomes.schemas import OutcomeCreate
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, training


def test_read_ahead_gives_what_the_separate_reads_give(
    client: TestClient, auth: Tokens, ctx: AppContext, session: Session
) -> None:
    desk = Desk(client, auth)
    institution = institutions.get(session, desk.institution_id)
    posted = OutcomeCreate.model_validate(training(reference="LA-1", learner_id=desk.learner_id))
    assert service.post_rows(session, ctx, institution, [(1, posted)])[0].status == "created"
    rows = [
        (1, posted),
        (2, OutcomeCreate.model_validate(training(reference="LA-2", learner_id="lrn_nobody"))),
        (3, OutcomeCreate.model_validate(training(reference='LA 3, "quoted"', learner_id=desk.learner_id))),
    ]
    ahead = lookups.read_ahead(session, institution, rows)
    assert ahead is not None
    assert set(ahead.posted) == {"LA-1"}
    assert ahead.posted == lookups.posted_references(session, institution.id, [i.reference for _, i in rows])
    assert ahead.learners == {desk.learner_id: False}
    assert ahead.learners == lookups.learners_erased(session, sorted({desk.learner_id, "lrn_nobody"}))
    assert ahead.scope == accreditation.scope_of(session, institution)
    accreditation.set_scope(session, institution, ["training_course"], [])
    assert lookups.read_ahead(session, institution, rows).scope == accreditation.scope_of(  # type: ignore[union-attr]
        session, institution
    )
