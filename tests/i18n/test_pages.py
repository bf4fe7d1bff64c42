"""A page that meets a domain error says so in the reader's language: the problem's own title."""

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.conftest import Tokens
from tests.web.scene import build_scene


def test_another_learners_or_an_unknown_consent_is_refused_in_the_readers_language(
    client: TestClient, auth: Tokens, ctx: AppContext
) -> None:
    scene = build_scene(client, auth, ctx)
    csrf = scene.sign_in(Role.learner, scene.learner_id)
    form = {"csrf": csrf, "consent_id": "cns_not_mine"}
    zh = scene.client.post("/archive/consents/revoke", data=form)
    assert zh.status_code == 404
    assert "没有该授权" in zh.text and "出错了" not in zh.text
    en = scene.client.post("/archive/consents/revoke?lang=en", data=form)
    assert en.status_code == 404
    assert "No such consent" in en.text
