"""Looking people up by identity number: logged, found or not, and rate-limited per token.

Attacker's view: an institution token walks the identity-number space (about 10^11 values) through
``/learners/lookup`` or through registration, to learn who has an account."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, key, training
from tests.support.factories import create_institution, create_learner, identity_number

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


class TestPostingsByIdentityNumber:
    """A posting by identity number without a name answers "no learner" for a number nobody
    registered: the same oracle as ``/learners/lookup``, so it is logged and rate-limited the same
    way, per institution (another token of the same school does not get a fresh budget)."""

    def test_a_single_posting_to_an_unknown_number_is_a_logged_and_limited_lookup(
        self,
        client: TestClient,
        auth: Tokens,
        ctx: AppContext,
        db: Connection,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(ctx.settings, "identity_lookups_per_minute", 3)
        desk = Desk(client, auth)
        for n in range(3):
            probe = desk.post(training(reference=f"P-{n}", identity_number=identity_number()))
            assert probe.status_code == 404, probe.text
            assert probe.headers["content-type"] == PROBLEM
            assert probe.json()["type"].endswith("/learner-not-found")
        assert _logged(db, desk.institution_id)[-3:] == [("posting-miss", None)] * 3
        other_token = {**auth(Role.institution, desk.institution_id), "Idempotency-Key": key()}
        refused = client.post(
            "/api/v1/outcomes",
            json=training(reference="P-4", identity_number=identity_number()),
            headers=other_token,
        )
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"].endswith("/too-many-lookups")
        assert int(refused.headers["retry-after"]) >= 1
        # a known number still posts: only answers about unknown numbers are counted
        number = identity_number()
        known = create_learner(client, desk.headers, number=number)
        posted = desk.post(training(reference="P-5", identity_number=number))
        assert posted.status_code == 201, posted.text
        assert posted.json()["learner_id"] == known

    def test_a_batch_answers_unknown_numbers_up_to_the_limit_then_refuses_the_rows(
        self,
        client: TestClient,
        auth: Tokens,
        ctx: AppContext,
        db: Connection,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(ctx.settings, "identity_lookups_per_minute", 3)
        desk = Desk(client, auth)
        rows = [training(reference=f"B-{i}", identity_number=identity_number()) for i in range(5)]
        rows.insert(2, training(reference="B-known", learner_id=desk.learner_id))
        response = client.post(
            "/api/v1/outcomes/batch",
            content="\n".join(json.dumps(r) for r in rows).encode(),
            headers={**desk.headers, "Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        reported = [(r["status"], (r.get("error") or {}).get("type", "")) for r in response.json()["rows"]]
        assert [status for status, _ in reported] == ["error", "error", "created", "error", "error", "error"]
        kinds = [kind.rsplit("/", 1)[-1] for _, kind in reported]
        assert kinds.count("learner-not-found") == 3 and kinds.count("too-many-lookups") == 2
        assert _logged(db, desk.institution_id).count(("posting-miss", None)) == 3
