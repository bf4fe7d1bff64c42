"""Looking people up by identity number: logged, found or not, and rate-limited per token.

Attacker's view: an institution token walks the identity-number space (about 10^11 values) through
``/learners/lookup`` or through registration, to learn who has an account."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.conftest import Tokens
from tests.support.factories import create_institution, identity_number

PROBLEM = "application/problem+json"


def _logged(db: Connection, institution_id: str) -> list[tuple[str, str | None]]:
    rows = db.execute(
        text("SELECT what, learner_id FROM identity_lookups WHERE reader_subject = :i ORDER BY id"),
        {"i": institution_id},
    )
    return [(r.what, r.learner_id) for r in rows]


class TestLookups:
    def test_every_lookup_is_logged_found_or_not(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        institution_id = create_institution(client, auth(Role.admin))
        headers = auth(Role.institution, institution_id)
        number = identity_number()
        created = client.post(
            "/api/v1/learners", json={"name": "赵敏", "identity_number": number}, headers=headers
        )
        learner_id = created.json()["id"]
        again = client.post(
            "/api/v1/learners", json={"name": "赵敏", "identity_number": number}, headers=headers
        )
        assert again.status_code == 200 and again.json() == {"id": learner_id, "created": False}
        found = client.post("/api/v1/learners/lookup", json={"identity_number": number}, headers=headers)
        assert found.status_code == 200 and found.json()["id"] == learner_id
        missing = client.post(
            "/api/v1/learners/lookup", json={"identity_number": identity_number()}, headers=headers
        )
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
        assert missing.json()["type"].endswith("/learner-not-found")
        assert _logged(db, institution_id) == [
            ("register", learner_id),
            ("register-known", learner_id),
            ("lookup", learner_id),
            ("lookup", None),
        ]

    def test_the_next_lookup_over_the_limit_is_a_429_with_retry_after(
        self,
        client: TestClient,
        auth: Tokens,
        ctx: AppContext,
        db: Connection,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(ctx.settings, "identity_lookups_per_minute", 3)
        institution_id = create_institution(client, auth(Role.admin))
        headers = auth(Role.institution, institution_id)
        for _ in range(3):
            probe = client.post(
                "/api/v1/learners/lookup", json={"identity_number": identity_number()}, headers=headers
            )
            assert probe.status_code == 404
        refused = client.post(
            "/api/v1/learners/lookup", json={"identity_number": identity_number()}, headers=headers
        )
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"].endswith("/too-many-lookups")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        register = client.post(
            "/api/v1/learners", json={"name": "钱七", "identity_number": identity_number()}, headers=headers
        )
        assert register.status_code == 429, "registration is a lookup too"
        assert len(_logged(db, institution_id)) == 3
        # the limit is per token: another token of the same institution is counted apart
        fresh = auth(Role.institution, institution_id)
        assert (
            client.post(
                "/api/v1/learners/lookup", json={"identity_number": identity_number()}, headers=fresh
            ).status_code
            == 404
        )
        # a minute later the window has moved on
        db.execute(
            text("UPDATE identity_lookups SET at = at - interval '61 seconds' WHERE reader_subject = :i"),
            {"i": institution_id},
        )
        again = client.post(
            "/api/v1/learners/lookup", json={"identity_number": identity_number()}, headers=headers
        )
        assert again.status_code == 404
