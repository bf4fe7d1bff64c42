"""``/metrics`` is not public: an admin or auditor token, or a request from this host that no proxy
forwarded. Tried from outside first (no token, an institution's, a learner's, a forged forwarding
header), then the business figures it reports against the base tables."""

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.outcomes.test_review_districts import TwoDistricts

PROBLEM = "application/problem+json"


@pytest.fixture
def local(ctx: AppContext) -> Iterator[TestClient]:
    """A client whose requests come from 127.0.0.1 (as a Prometheus beside the service)."""
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False, client=("127.0.0.1", 40000)) as c:
        yield c


@pytest.fixture
def remote(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False, client=("203.0.113.7", 40000)) as c:
        yield c


def _value(body: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{name}{re.escape(labels)} (\S+)$", body, re.MULTILINE)
    assert match, f"{name}{labels} missing from:\n{body}"
    return float(match.group(1))


class TestNotPublic:
    def test_remote_callers_without_the_right_token_are_refused(
        self, remote: TestClient, auth: Tokens
    ) -> None:
        anonymous = remote.get("/metrics")
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["content-type"] == PROBLEM
        assert "creditbank_http_requests_total" not in anonymous.text
        admin = auth(Role.admin)
        institution = auth(Role.institution, TwoDistricts(remote, auth).haidian.institution_id)
        for headers in (institution, auth(Role.reviewer)):
            refused = remote.get("/metrics", headers=headers)
            assert refused.status_code == 403, refused.text
            assert "creditbank_" not in refused.text
        bad = remote.get("/metrics", headers={"Authorization": "Bearer cbt_forged"})
        assert bad.status_code == 401
        assert admin

    def test_forwarded_requests_from_a_local_proxy_are_not_local(self, local: TestClient) -> None:
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            refused = local.get("/metrics", headers={header: "203.0.113.7"})
            assert refused.status_code == 401, (header, refused.text)

    def test_a_local_scrape_and_an_auditor_token_are_admitted(
        self, local: TestClient, remote: TestClient, auth: Tokens
    ) -> None:
        assert local.get("/metrics").status_code == 200
        for role in (Role.auditor, Role.admin):
            seen = remote.get("/metrics", headers=auth(role))
            assert seen.status_code == 200, seen.text
            assert "creditbank_http_requests_total" in seen.text
        # a token is checked wherever it comes from: a learner's token from this host is refused
        learner = local.get("/metrics", headers=auth(Role.learner, "lrn_whoever"))
        assert learner.status_code in (401, 403)


class TestBusinessFigures:
    def test_figures_equal_the_base_tables(self, local: TestClient, auth: Tokens, db: Connection) -> None:
        TwoDistricts(local, auth)
        body = local.get("/metrics").text
        assert _value(body, "creditbank_business_up") == 1
        posted = db.execute(text("SELECT count(*) FROM outcomes")).scalar_one()
        assert posted >= 2
        assert _value(body, "creditbank_outcomes_posted_total") == posted
        backlog = db.execute(
            text("SELECT count(*) FROM recognitions WHERE status = 'review' AND stage = 'district'")
        ).scalar_one()
        assert _value(body, "creditbank_review_backlog", '{stage="district"}') == backlog >= 2
        accounts = db.execute(text("SELECT count(*) FROM learners")).scalar_one()
        assert _value(body, "creditbank_accounts_opened_total") == accounts
