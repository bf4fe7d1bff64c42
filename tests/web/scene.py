"""A small world for the page tests: an institution, a learner with recognised credits (sign-in is
:mod:`tests.support.signin`)."""

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.catalog import service as catalog
from creditbank.catalog.schemas import EquivalenceCreate, ProgrammeCreate
from creditbank.context import AppContext
from creditbank.transparency import store
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner
from tests.support.signin import mint, sign_in

_keys = itertools.count(1)


def publish(ctx: AppContext) -> None:
    """Sign a checkpoint for the log's current size (the server's background publisher is off)."""
    with ctx.sessions() as s, s.begin():
        store.publish_checkpoint(s, ctx.secrets.master_key, store.DEFAULT_LOG)


def programme(
    ctx: AppContext,
    institution_id: str,
    code: str = "510201",
    credits: int = 120,
    requires: dict[str, Any] | None = None,
) -> str:
    """Publish a programme of the institution (a transfer's destination) and an equivalence that
    takes electrician training (or what ``requires`` says) as electives; return the programme's id."""
    with ctx.sessions() as s, s.begin():
        row = catalog.create_programme(
            s,
            institution_id,
            ProgrammeCreate(
                code=code,
                title_zh="软件技术",
                title_en="Software Technology",
                graduation_credits=Decimal(credits),
            ),
        )
        catalog.create_equivalence(
            s,
            institution_id,
            EquivalenceCreate(
                requires=requires or {"lot": {"outcome_type": "training_course", "field": "electrician"}},
                destination_kind="elective_bucket",
                destination_code="ELEC-E",
                destination_title_zh="电工类选修",
                destination_title_en="Electrical electives",
                credits=Decimal(6),
            ),
        )
        return row.id


def training(reference: str, hours: int = 48, *, days_ago: int = 30, **extra: Any) -> dict[str, Any]:
    return {
        "reference": reference,
        "outcome_type": "training_course",
        "title": "低压电工作业培训",
        "achieved_on": (dt.date.today() - dt.timedelta(days=days_ago)).isoformat(),
        "hours": hours,
        "field": "electrician",
        **extra,
    }


@dataclass
class Scene:
    client: TestClient
    ctx: AppContext
    institution_id: str
    other_institution_id: str
    learner_id: str
    institution_headers: dict[str, str]

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/outcomes",
            json={"learner_id": self.learner_id, **body},
            headers={**(headers or self.institution_headers), "Idempotency-Key": f"web-{next(_keys)}"},
        )
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()
        return data

    def sign_in(self, role: Role, subject: str | None = None, client: TestClient | None = None) -> str:
        """Sign in through the form; return the page's CSRF token."""
        return sign_in(client or self.client, mint(self.ctx, role, subject))

    def ask_certificate(self, lot_id: str) -> tuple[str, str]:
        """Sign in as the learner and ask for the lot's certificate on the archive page; return the
        page's CSRF token and the certificate's id."""
        csrf = self.sign_in(Role.learner, self.learner_id)
        self.client.post("/archive/certificates", data={"csrf": csrf, "lot_id": lot_id})
        found = re.search(r"/archive/certificates/(crt_[^\".]+)\.json", self.client.get("/archive").text)
        assert found, "the archive page lists no certificate"
        return csrf, found.group(1)


def build_scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    admin = auth(Role.admin)
    institution_id = create_institution(
        client, admin, name_zh="北京市海淀区职业学校", name_en="Haidian Vocational"
    )
    other = create_institution(client, admin, name_zh="北京开放大学", name_en="Beijing Open University")
    headers = auth(Role.institution, institution_id)
    learner_id = create_learner(client, headers, name="王芳")
    return Scene(client, ctx, institution_id, other, learner_id, headers)
