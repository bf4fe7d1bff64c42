"""The reads behind the pages go through the domain services, which check the caller (issue 12,
point 6): called as another institution, a learner or a reviewer, or through a dead share link, they
refuse, or show nothing of anyone else."""

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.credentials import service as certificates
from creditbank.errors import Forbidden
from creditbank.learners import access
from creditbank.outcomes import records
from tests.conftest import Tokens
from tests.web.scene import Scene, build_scene, training


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


def acting(role: Role, subject: str | None) -> Principal:
    return Principal(role=role, subject=subject, token_id=None)


class TestConsoleReads:
    def test_an_institution_reads_only_its_own_outcomes(self, scene: Scene) -> None:
        scene.post(training("READ-1"))
        with scene.ctx.sessions() as s:
            own = records.of_institution(s, acting(Role.institution, scene.institution_id))
            other = records.of_institution(s, acting(Role.institution, scene.other_institution_id))
        assert "READ-1" in [o.reference for o, _ in own]
        assert other == []

    @pytest.mark.parametrize("role", [Role.learner, Role.reviewer, Role.auditor])
    def test_no_one_but_an_institution_reads_a_console(self, scene: Scene, role: Role) -> None:
        who = acting(role, scene.learner_id if role is Role.learner else None)
        with scene.ctx.sessions() as s:
            with pytest.raises(Forbidden):
                records.of_institution(s, who)
            with pytest.raises(Forbidden):
                records.open_correction_requests(s, who)
            with pytest.raises(Forbidden):
                certificates.issued_by(s, who)


class TestTransferCertificates:
    def test_only_the_destination_reads_the_certificates_of_a_transfer(self, scene: Scene) -> None:
        posted = scene.post(training("READ-2"))
        _, certificate_id = scene.ask_certificate(posted["recognition"]["lot_id"])
        destination = scene.other_institution_id
        with scene.ctx.sessions() as s:
            with pytest.raises(Forbidden):
                certificates.of_transfer(
                    s, acting(Role.institution, scene.institution_id), destination, [certificate_id]
                )
            with pytest.raises(Forbidden):
                certificates.of_transfer(
                    s, acting(Role.learner, scene.learner_id), destination, [certificate_id]
                )
            rows = certificates.of_transfer(
                s, acting(Role.institution, destination), destination, [certificate_id]
            )
        assert [row.id for row in rows] == [certificate_id]


class TestShareLinkViews:
    def test_a_revoked_link_records_no_view(self, scene: Scene) -> None:
        with scene.ctx.sessions() as s, s.begin():
            link = access.create_share_link(s, scene.learner_id, days=7)
            access.log_share_view(s, link)  # live: the view is recorded
            access.revoke_share_link(s, scene.learner_id, link.id)
            with pytest.raises(Forbidden):
                access.log_share_view(s, link)
            reads = [a for a in access.access_log(s, scene.learner_id) if a.reader_subject == link.id]
        assert len(reads) == 1
