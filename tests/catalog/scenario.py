"""A transfer scenario: a training body recognised a learner's outcomes; two schools could convert them."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.transparency import store
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner


@dataclass
class Scenario:
    client: TestClient
    source: str
    source_headers: dict[str, str]
    dest: str
    dest_headers: dict[str, str]
    other: str
    other_headers: dict[str, str]
    learner: str
    learner_headers: dict[str, str]
    programme: str
    other_programme: str
    lots: list[str]

    def post(self, path: str, body: Any, headers: dict[str, str], key: str) -> Any:
        return self.client.post(path, json=body, headers={**headers, "Idempotency-Key": key})


def _outcome(learner: str, ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "learner_id": learner,
        "reference": ref,
        "achieved_on": (dt.date.today() - dt.timedelta(days=20)).isoformat(),
        **extra,
    }


def build(client: TestClient, auth: Tokens, ctx: AppContext) -> Scenario:
    admin = auth(Role.admin)
    # the source posts a 1+X certificate: a vocational school (a training body is not accredited for it)
    source = create_institution(client, admin, kind="vocational_school")
    dest = create_institution(client, admin, kind="vocational_school")
    other = create_institution(client, admin, kind="university")
    sh, dh, oh = (auth(Role.institution, i) for i in (source, dest, other))
    learner = create_learner(client, sh)
    lots = []
    for ref, body in (
        (
            "X-1",
            {
                "outcome_type": "one_plus_x_certificate",
                "title": "Web前端开发职业技能等级证书（中级）",
                "level": "中级",
                "field": "web_front_end",
                "grade": "良好",
            },
        ),
        (
            "M-1",
            {
                "outcome_type": "mooc",
                "title": "JavaScript 程序设计",
                "field": "web_front_end",
                "identity_verified": True,
                "score": 88,
                "hours": 36,
            },
        ),
    ):
        r = client.post(
            "/api/v1/outcomes", json=_outcome(learner, ref, **body), headers={**sh, "Idempotency-Key": ref}
        )
        assert r.status_code == 201, r.text
        assert r.json()["recognition"]["status"] == "recognised", r.json()["recognition"]
        lots.append(r.json()["recognition"]["lot_id"])
    programmes: list[str] = []
    for headers in (dh, oh):
        r = client.post(
            "/api/v1/programmes",
            json={
                "code": "510201",
                "title_zh": "计算机应用技术",
                "title_en": "Computer Applications",
                "graduation_credits": 60,
            },
            headers={**headers, "Idempotency-Key": f"programme-{len(programmes)}"},
        )
        assert r.status_code == 201, r.text
        programmes.append(r.json()["id"])
    with ctx.sessions() as session, session.begin():
        store.publish_checkpoint(session, ctx.secrets.master_key, "main")
    return Scenario(
        client,
        source,
        sh,
        dest,
        dh,
        other,
        oh,
        learner,
        auth(Role.learner, learner),
        programmes[0],
        programmes[1],
        lots,
    )
