"""The single posting's guard admits a token it found live lately without reading it again
(``creditbank.auth.deps.Admissions``); the posting's own transaction reads it, so nothing changes for
a revoked token: refused (401), nothing written, and told 401 first whatever else is wrong."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from creditbank.auth.deps import ADMISSIONS_MAX, Admissions, admission_key
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.main import create_app
from tests.support.postgres import PostgresServer
from tests.support.server import prepare_database
from tests.support.world import World, build_world

pytestmark = pytest.mark.slow


@dataclass
class Served:
    world: World
    client: TestClient
    admissions: Admissions


@pytest.fixture
def served(pg_server: PostgresServer, tmp_path: Path) -> Iterator[Served]:
    url = prepare_database(pg_server, "admissions", tmp_path)
    world = build_world(url, tmp_path, n_institutions=2, n_learners=2)
    app = create_app(ctx=world.ctx)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Served(world, client, app.state.admissions)
    finally:
        world.ctx.engine.dispose()


def _body(learner: str, reference: str) -> dict[str, Any]:
    return {
        "learner_id": learner,
        "reference": reference,
        "outcome_type": "training_course",
        "title": "准入课程",
        "achieved_on": (dt.date.today() - dt.timedelta(days=3)).isoformat(),
        "hours": 32,
    }


def _post(served: Served, token: str, body: dict[str, Any], key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    answer: httpx.Response = served.client.post("/api/v1/outcomes", json=body, headers=headers)
    return answer


def _revoke_in_the_database(served: Served, institution: str) -> None:
    """Revoked as another process would (the cli, the other worker): this app is not told."""
    with served.world.ctx.engine.begin() as conn:
        done = conn.execute(
            text("UPDATE api_tokens SET revoked_at = now() WHERE role = 'institution' AND subject = :s"),
            {"s": institution},
        )
    assert done.rowcount == 1


def _references(served: Served) -> set[str]:
    with served.world.ctx.engine.connect() as conn:
        return set(conn.execute(text("SELECT reference FROM outcomes")).scalars())


def test_a_token_revoked_elsewhere_after_its_admission_is_refused_and_nothing_is_written(
    served: Served,
) -> None:
    (school, token), learner = served.world.institutions[0], served.world.learners[0]
    first = _post(served, token, _body(learner, "before"), "k-1")
    assert first.status_code == 201, first.text
    digest = admission_key(served.world.ctx, token)
    assert digest is not None and served.admissions.get(digest) is not None  # admitted from now on
    _revoke_in_the_database(served, school)
    refused = _post(served, token, _body(learner, "after"), "k-2")
    assert refused.status_code == 401, refused.text
    assert refused.json()["type"].endswith("/unauthenticated")
    assert refused.headers["www-authenticate"] == "Bearer"
    assert _references(served) == {"before"}
    assert served.admissions.get(digest) is None  # the next one is refused by the guard at once
    again = _post(served, token, _body(learner, "after"), "k-3")
    assert again.status_code == 401, again.text
    assert _references(served) == {"before"}


def test_a_revoked_token_with_a_body_not_valid_is_told_401_not_422(served: Served) -> None:
    """As when the guard read the token every time: a revoked token learns nothing about its body."""
    (school, token), learner = served.world.institutions[0], served.world.learners[0]
    assert _post(served, token, _body(learner, "before"), "k-1").status_code == 201
    _revoke_in_the_database(served, school)
    invalid = {**_body(learner, "bad"), "hours": "many"}
    refused = _post(served, token, invalid, "k-2")
    assert refused.status_code == 401, refused.text
    assert refused.json()["type"].endswith("/unauthenticated")
    digest = admission_key(served.world.ctx, token)
    assert digest is not None and served.admissions.get(digest) is None


def test_a_live_token_with_a_body_not_valid_is_still_told_422(served: Served) -> None:
    (_, token), learner = served.world.institutions[0], served.world.learners[0]
    assert _post(served, token, _body(learner, "before"), "k-1").status_code == 201
    invalid = {**_body(learner, "bad"), "hours": "many"}
    told = _post(served, token, invalid, "k-2")
    assert told.status_code == 422, told.text
    assert [e["loc"] for e in told.json()["errors"]] == [["body", "hours"]]


def test_another_schools_token_admitted_before_posts_only_as_that_school(served: Served) -> None:
    """Admissions are by the token's own hash: school B's token, admitted, never acts for school A."""
    (school_a, token_a), (school_b, token_b) = served.world.institutions
    learner = served.world.learners[0]
    assert _post(served, token_a, _body(learner, "from-a"), "k-a").status_code == 201
    posted = _post(served, token_b, _body(learner, "from-b"), "k-b")
    assert posted.status_code == 201, posted.text
    assert posted.json()["institution_id"] == school_b != school_a
    forged = token_a[:-4] + ("0000" if not token_a.endswith("0000") else "1111")
    assert _post(served, forged, _body(learner, "forged"), "k-f").status_code == 401
    assert _references(served) == {"from-a", "from-b"}


def test_admissions_forget_everything_when_full() -> None:
    admissions = Admissions()
    someone = Principal(role=Role.institution, subject="inst", token_id="tok")
    for n in range(ADMISSIONS_MAX):
        admissions.note(f"{n:064x}", someone)
    assert admissions.get(f"{0:064x}") is someone
    admissions.note("f" * 64, someone)
    assert admissions.get(f"{0:064x}") is None and admissions.get("f" * 64) is someone
