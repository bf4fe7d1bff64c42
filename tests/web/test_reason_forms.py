"""The forms that need a reason (revoking, declining, asking for a correction) refuse one without it
the same way: a 422 page naming the field as required, joined by the reader's own colon, and nothing
written."""

import html

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.conftest import Tokens
from tests.web.scene import Scene, build_scene

FORMS = [
    pytest.param(
        Role.learner, "/archive/correction", {"outcome_id": "out_x"}, "需要更正的内容", id="correction"
    ),
    pytest.param(
        Role.institution, "/console/revoke", {"outcome_id": "out_x"}, "撤销原因", id="console-revoke"
    ),
    pytest.param(
        Role.institution, "/console/outcomes/revoke", {"outcome_id": "out_x"}, "撤销原因", id="list-revoke"
    ),
    pytest.param(
        Role.institution, "/console/transfers/reject", {"transfer_id": "trf_x"}, "理由", id="transfer"
    ),
    pytest.param(Role.institution, "/console/corrections/out_x/refuse", {}, "理由", id="refuse-correction"),
]


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


@pytest.mark.parametrize(("role", "path", "form", "field"), FORMS)
def test_a_form_without_its_reason_is_refused_in_the_readers_words(
    scene: Scene, db: Connection, role: Role, path: str, form: dict[str, str], field: str
) -> None:
    subject = scene.learner_id if role is Role.learner else scene.institution_id
    csrf = scene.sign_in(role, subject)
    events = db.execute(text("SELECT count(*) FROM outcome_events")).scalar_one()
    refused = scene.client.post(path, data={**form, "reason": " x ", "csrf": csrf}, follow_redirects=False)
    assert refused.status_code == 422, refused.text
    assert f"{field}：必填" in html.unescape(refused.text)
    assert db.execute(text("SELECT count(*) FROM outcome_events")).scalar_one() == events
