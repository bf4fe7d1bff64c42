"""The learner's inbox (站内信) and its e-mail notices, from the attacker's side and the learner's.

Another learner or a school reaching for someone's inbox; a notice e-mail (which leaves the bank)
carrying more than "you have messages"; a notice sent twice. E-mail goes to a real SMTP server
(aiosmtpd) started by the test."""

import datetime as dt
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from creditbank.archive import inbox
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.db import utcnow
from tests.conftest import Tokens
from tests.support.factories import create_learner, identity_number
from tests.web.scene import Scene, build_scene, training


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


def _inbox(scene: Scene, headers: dict[str, str], learner_id: str | None = None) -> Any:
    return scene.client.get(f"/api/v1/learners/{learner_id or scene.learner_id}/inbox", headers=headers)


class TestWhoReadsAnInbox:
    def test_the_learner_reads_their_own_events_and_nobody_else_reads_them(
        self, scene: Scene, auth: Tokens
    ) -> None:
        scene.post(training("INBOX-1", title="低压电工作业培训"))
        mine = auth(Role.learner, scene.learner_id)
        response = _inbox(scene, mine)
        assert response.status_code == 200, response.text
        items = response.json()
        assert any(i["kind"] == "recognition" and "低压电工作业培训" in i["text_zh"] for i in items)
        assert all(i["unread"] for i in items)
        # another learner with an outcome of their own
        other = create_learner(scene.client, scene.institution_headers, name="李娜")
        scene.client.post(
            "/api/v1/outcomes",
            json={"learner_id": other, **training("INBOX-OTHER", title="养老护理员培训")},
            headers={**scene.institution_headers, "Idempotency-Key": "inbox-other-1"},
        )
        assert all("养老护理员培训" not in i["text_zh"] for i in _inbox(scene, mine).json())
        # nobody else reads this inbox: not another learner, not the school, not an admin
        theirs = auth(Role.learner, other)
        assert _inbox(scene, theirs).status_code == 403
        for role, subject in (
            (Role.institution, scene.institution_id),
            (Role.admin, None),
            (Role.auditor, None),
        ):
            assert _inbox(scene, auth(role, subject)).status_code == 403

    def test_credits_nearing_expiry_are_announced(self, scene: Scene, auth: Tokens) -> None:
        scene.post(training("INBOX-OLD", title="电梯安装维修培训", days_ago=5 * 365 - 29))
        items = _inbox(scene, auth(Role.learner, scene.learner_id)).json()
        expiring = [i for i in items if i["kind"] == "expiry"]
        assert len(expiring) == 1, items
        assert "电梯安装维修培训" in expiring[0]["text_zh"] and "到期" in expiring[0]["text_zh"]


class TestInboxPage:
    def test_the_page_lists_messages_and_marks_them_read(self, scene: Scene) -> None:
        scene.post(training("INBOX-PAGE", title="焊工作业培训"))
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        page = scene.client.get("/inbox")
        assert page.status_code == 200 and "焊工作业培训" in page.text
        assert "未读消息 0 条" not in page.text
        done = scene.client.post("/inbox/read", data={"csrf": csrf}, follow_redirects=False)
        assert done.status_code == 303
        assert "未读消息 0 条" in scene.client.get("/inbox").text

    def test_a_stranger_gets_the_sign_in_form(self, scene: Scene, ctx: AppContext) -> None:
        scene.post(training("INBOX-STRANGER", title="焊工作业培训"))
        page = scene.client.get("/inbox")
        assert 'action="/signin"' in page.text and "焊工作业培训" not in page.text


class TestMailNotices:
    def _learner_with_mail(self, scene: Scene, address: str) -> str:
        response = scene.client.post(
            "/api/v1/learners",
            json={"name": "周密", "identity_number": identity_number(), "contact": address},
            headers=scene.institution_headers,
        )
        assert response.status_code == 201, response.text
        learner_id: str = response.json()["id"]
        scene.learner_id = learner_id
        scene.post(training("MAIL-1", title="中式烹调师培训"))
        return learner_id

    def test_one_notice_without_contents_and_never_twice(
        self, scene: Scene, ctx: AppContext, smtp: tuple[Collector, int]
    ) -> None:
        collector, port = smtp
        self._learner_with_mail(scene, "zhou.mi@example.cn")
        settings = ctx.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
        since = utcnow() - dt.timedelta(hours=1)
        with ctx.sessions() as session, session.begin():
            report = inbox.mail_notices(session, settings, ctx.secrets.master_key, since=since)
        assert report.sent >= 1
        mine = [content for rcpt, content in collector.messages if rcpt == ["zhou.mi@example.cn"]]
        assert len(mine) == 1
        message = message_from_bytes(mine[0])
        subject = str(make_header(decode_header(message["Subject"])))
        assert "学分银行新消息" in subject
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        body = payload.decode()
        assert "新消息" in body and "/inbox" in body
        for secret in ("中式烹调师培训", "周密", scene.learner_id):
            assert secret not in body and secret not in subject
        # announced once: the next run sends this learner nothing
        with ctx.sessions() as session, session.begin():
            inbox.mail_notices(session, settings, ctx.secrets.master_key, since=since)
        assert len([1 for rcpt, _ in collector.messages if rcpt == ["zhou.mi@example.cn"]]) == 1

    def test_without_an_smtp_server_nothing_is_sent(
        self, scene: Scene, ctx: AppContext, smtp: tuple[Collector, int]
    ) -> None:
        collector, _ = smtp
        self._learner_with_mail(scene, "no.server@example.cn")
        with ctx.sessions() as session, session.begin():
            report = inbox.mail_notices(
                session, ctx.settings, ctx.secrets.master_key, since=utcnow() - dt.timedelta(hours=1)
            )
        assert report.sent == 0 and collector.messages == []
