"""Rotating the pepper on PostgreSQL with real data, then retiring the previous one
(``creditbank secrets rotate pepper``, ``creditbank secrets retire-pepper``; creditbank.rotation.pepper).

Through the app: tokens minted before the rotation still work and are re-hashed on use, learners are
found by identity number, postings sent again are recognised as duplicates and idempotent replays;
sessions end. After the retirement nothing in the database is derived from the old pepper, tokens not
used since are revoked, and the service refuses to start with the wrong pepper files. An interrupted
rotation is finished by running the command again.
"""

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select
from typer.testing import CliRunner, Result

from creditbank.auth import sessions as web_sessions
from creditbank.auth.models import ApiToken, WebSession
from creditbank.auth.service import hash_token
from creditbank.cli import app as cli
from creditbank.config import Settings, get_settings
from creditbank.context import AppContext, build_context
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import create_engine, transaction
from creditbank.keyring.models import SecretCheck
from creditbank.keyring.service import PEPPER, PREVIOUS_PEPPER, WrongSecret, pepper_check
from creditbank.learners.models import Learner
from creditbank.learners.service import lookup_hash
from creditbank.ledger.models import IdempotencyRecord
from creditbank.main import create_app
from creditbank.outcomes.models import Outcome
from creditbank.rotation import pepper as peppers
from tests.support.factories import identity_number
from tests.support.postgres import PostgresServer
from tests.support.server import prepare_database
from tests.support.world import World, build_world

pytestmark = pytest.mark.slow


class Service:
    """The database, the var directory and the commands of one deployment."""

    def __init__(self, url: str, var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url, self.var = url, var
        for name in list(os.environ):
            if name.startswith("CREDITBANK_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("CREDITBANK_DATABASE_URL", url)
        monkeypatch.setenv("CREDITBANK_VAR_DIR", str(var))
        monkeypatch.setenv("CREDITBANK_BACKGROUND_PUBLISHER", "false")
        self.pepper_file = var / "secrets" / "pepper.key"

    def command(self, *args: str) -> Result:
        get_settings.cache_clear()
        return CliRunner().invoke(cli, list(args))

    def context(self) -> AppContext:
        return build_context(
            Settings(var_dir=self.var, database_url=self.url, background_publisher=False),
            engine=create_engine(self.url, pool_size=4),
        )

    @contextmanager
    def app(self) -> Iterator[TestClient]:
        """The service started afresh (reads its secret files, checks them against the database)."""
        ctx = self.context()
        try:
            with TestClient(create_app(ctx=ctx)) as client:
                yield client
        finally:
            ctx.engine.dispose()

    def rows(self, model: Any) -> list[Any]:
        ctx = self.context()
        try:
            with ctx.sessions() as session:
                return list(session.exec(select(model)).all())
        finally:
            ctx.engine.dispose()

    def pepper(self, suffix: str = "") -> bytes:
        return bytes.fromhex(self.pepper_file.with_name(self.pepper_file.name + suffix).read_text().strip())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def outcome(learner: str, reference: str, title: str = "数字技能培训") -> dict[str, Any]:
    return {
        "learner_id": learner,
        "reference": reference,
        "outcome_type": "training_course",
        "title": title,
        "achieved_on": (dt.date.today() - dt.timedelta(days=3)).isoformat(),
        "hours": 24,
    }


def token_key(pepper: bytes) -> bytes:
    return hmac_sha256(pepper, b"creditbank/api-token")


def identity_key(pepper: bytes) -> bytes:
    return hmac_sha256(pepper, b"creditbank/identity-lookup")


@pytest.fixture
def deployment(
    pg_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Service, World]]:
    var = tmp_path / "var"
    url = prepare_database(pg_server, f"pepper_{os.getpid()}_{tmp_path.name[-12:]}".lower(), var)
    world = build_world(url, var, n_institutions=3, n_learners=3)
    world.ctx.engine.dispose()
    yield Service(url, var, monkeypatch), world
    get_settings.cache_clear()


def test_rotate_then_retire_the_pepper(deployment: tuple[Service, World]) -> None:
    service, world = deployment
    (school, used), (_, unused), (_, never) = world.institutions
    number = identity_number()
    with service.app() as client:  # first start: the key-check values are stored
        learner = client.post(
            "/api/v1/learners", json={"name": "王五", "identity_number": number}, headers=bearer(used)
        ).json()["id"]
        body = outcome(learner, "before-rotation")
        first = client.post(
            "/api/v1/outcomes", json=body, headers={**bearer(used), "Idempotency-Key": "key-before"}
        )
        assert first.status_code == 201, first.text
    ctx = service.context()
    for session in transaction(ctx.sessions):  # a signed-in browser
        [token_row] = [t for t in session.exec(select(ApiToken)).all() if t.subject == school]
        web_sessions.start(session, ctx.token_key, ctx.secrets.session_secret, token_row.id)
    ctx.engine.dispose()
    old = service.pepper()

    rotated = service.command("secrets", "rotate", "pepper")
    assert rotated.exit_code == 0, rotated.output
    assert "recomputed 4 identity-number lookups" in rotated.output
    assert "1 browser sessions ended" in rotated.output
    new, previous = service.pepper(), service.pepper(".previous")
    assert new != old and previous == old
    assert not service.pepper_file.with_name("pepper.key.new").exists()
    for suffix in ("", ".previous"):
        assert service.pepper_file.with_name("pepper.key" + suffix).stat().st_mode & 0o777 == 0o600
    checks = {row.name: bytes(row.value) for row in service.rows(SecretCheck)}
    assert checks[PEPPER] == pepper_check(new) and checks[PREVIOUS_PEPPER] == pepper_check(old)
    assert service.rows(WebSession) == []
    # every lookup is under the new pepper now, none under the old
    lookups = {row.id: row.lookup_hmac for row in service.rows(Learner)}
    assert lookups[learner] == lookup_hash(identity_key(new), number)
    assert not set(lookups.values()) & {lookup_hash(identity_key(old), number)}
    # a second rotation waits for the retirement of this one's previous pepper
    again = service.command("secrets", "rotate", "pepper")
    assert again.exit_code == 2 and "retire it first" in again.output
    assert service.pepper() == new

    with service.app() as client:
        # the token minted before the rotation works, and is re-hashed under the new pepper on use
        assert client.get("/api/v1/outcomes/" + first.json()["id"], headers=bearer(used)).status_code == 200
        hashes = {row.subject: row for row in service.rows(ApiToken)}
        assert hashes[school].token_hash == hash_token(token_key(new), used)
        assert not hashes[school].pepper_previous
        assert hashes[world.institutions[1][0]].token_hash == hash_token(token_key(old), unused)
        # the learner is found by identity number, and registering the number again finds them too
        found = client.post("/api/v1/learners/lookup", json={"identity_number": number}, headers=bearer(used))
        assert found.status_code == 200 and found.json()["id"] == learner
        same = client.post(
            "/api/v1/learners", json={"name": "王五", "identity_number": number}, headers=bearer(used)
        )
        assert same.status_code == 200 and same.json() == {"id": learner, "created": False}
        for who in world.learners:  # the learners of the world too
            assert client.get(f"/api/v1/learners/{who}", headers=bearer(world.admin_token)).status_code == 200
        # the posting sent again: an idempotent replay with its key, a duplicate with another key
        replay = client.post(
            "/api/v1/outcomes", json=body, headers={**bearer(used), "Idempotency-Key": "key-before"}
        )
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        duplicate = client.post(
            "/api/v1/outcomes", json=body, headers={**bearer(used), "Idempotency-Key": "key-after"}
        )
        assert duplicate.status_code == 200, duplicate.text
        assert duplicate.json()["id"] == first.json()["id"]
        changed = client.post(
            "/api/v1/outcomes",
            json=outcome(learner, "before-rotation", "另一门课"),
            headers={**bearer(used), "Idempotency-Key": "key-changed"},
        )
        assert changed.status_code == 409, changed.text
        after = client.post(
            "/api/v1/outcomes",
            json=outcome(learner, "after-rotation"),
            headers={**bearer(used), "Idempotency-Key": "key-after-rotation"},
        )
        assert after.status_code == 201
    assert len([o for o in service.rows(Outcome) if o.reference.endswith("-rotation")]) == 2

    # the retirement waits for its grace period, then ends the old pepper
    early = service.command("secrets", "retire-pepper")
    assert early.exit_code == 2 and "grace period" in early.output
    retired = service.command("secrets", "retire-pepper", "--grace-days", "0")
    assert retired.exit_code == 0, retired.output
    assert "tokens not used since were revoked" in retired.output
    assert not service.pepper_file.with_name("pepper.key.previous").exists()
    [kept] = service.pepper_file.parent.glob("pepper.key.retired-*")
    assert bytes.fromhex(kept.read_text().strip()) == old  # for backups from before the rotation
    assert {row.name for row in service.rows(SecretCheck)} == {"master-key", PEPPER}
    tokens = service.rows(ApiToken)
    old_key = token_key(old)
    for token in (used, unused, never, world.admin_token):
        assert hash_token(old_key, token) not in {row.token_hash for row in tokens}
    assert not any(row.pepper_previous for row in tokens)
    records = {row.key: row.request_hash for row in service.rows(IdempotencyRecord)}
    assert records["key-before"] == peppers.RETIRED_FINGERPRINT
    assert records["key-after-rotation"] != peppers.RETIRED_FINGERPRINT
    fingerprints = {row.reference: row.request_hash for row in service.rows(Outcome)}
    assert fingerprints["before-rotation"] == peppers.RETIRED_FINGERPRINT
    assert fingerprints["after-rotation"] not in (peppers.RETIRED_FINGERPRINT, peppers.ERASED)

    with service.app() as client:
        assert client.get("/api/v1/outcomes/" + after.json()["id"], headers=bearer(used)).status_code == 200
        unused_now = client.get("/api/v1/outcomes/" + first.json()["id"], headers=bearer(unused))
        assert unused_now.status_code == 401  # not used in the grace period: issue it again
        replay_after = client.post(
            "/api/v1/outcomes", json=body, headers={**bearer(used), "Idempotency-Key": "key-before"}
        )
        assert replay_after.status_code == 409  # compared with nothing, never run twice
        again = client.post("/api/v1/outcomes", json=body, headers={**bearer(used), "Idempotency-Key": "k-3"})
        assert again.status_code == 409 and again.json()["type"].endswith("/reference-conflict")
        assert (
            client.post(
                "/api/v1/outcomes",
                json=outcome(learner, "after-rotation"),
                headers={**bearer(used), "Idempotency-Key": "key-after-rotation"},
            ).headers["idempotent-replayed"]
            == "true"
        )

    # a previous pepper file left beside a database that retired it stops the service
    service.pepper_file.with_name("pepper.key.previous").write_text(old.hex() + "\n")
    with pytest.raises(WrongSecret, match="retire-pepper"), service.app():
        pass


def test_an_interrupted_rotation_is_finished_by_running_it_again(deployment: tuple[Service, World]) -> None:
    service, world = deployment
    token, path = world.admin_token, f"/api/v1/learners/{world.learners[0]}"
    with service.app() as client:
        assert client.get(path, headers=bearer(token)).status_code == 200
    old = service.pepper()
    # interrupted after step 1: a new pepper file and nothing else; the next run takes it up
    pending, value, _ = peppers.pending_pepper(service.pepper_file)
    with service.app() as client:  # the service still runs on the old pepper meanwhile
        assert client.get(path, headers=bearer(token)).status_code == 200
    # interrupted after step 2: the database is rotated, the files are not
    ctx = service.context()
    try:
        for session in transaction(ctx.sessions):
            peppers.rotate_in_database(session, ctx, value)
    finally:
        ctx.engine.dispose()
    assert service.pepper() == old and pending.exists()
    with pytest.raises(WrongSecret, match="rotate pepper` again"), service.app():
        pass
    finished = service.command("secrets", "rotate", "pepper")
    assert finished.exit_code == 0, finished.output
    assert "interrupted run" in finished.output
    assert service.pepper() == value and service.pepper(".previous") == old
    assert not pending.exists()
    again = service.command("secrets", "rotate", "pepper")  # done: a new rotation waits for retirement
    assert again.exit_code == 2
    with service.app() as client:
        assert client.get(path, headers=bearer(token)).status_code == 200
        row = next(r for r in service.rows(ApiToken) if r.role == "admin")
        assert row.token_hash == hash_token(token_key(value), token)
        assert all(r.lookup_hmac is not None for r in service.rows(Learner))
    assert not pending.exists(), "the refused rotation left a new pepper file behind"
    # an interrupted retirement (database done, file not moved) is finished the same way
    ctx = service.context()
    try:
        for session in transaction(ctx.sessions):
            peppers.retire_in_database(session, dt.timedelta(0))
    finally:
        ctx.engine.dispose()
    with pytest.raises(WrongSecret), service.app():
        pass
    done = service.command("secrets", "retire-pepper", "--grace-days", "0")
    assert done.exit_code == 0, done.output
    assert not service.pepper_file.with_name("pepper.key.previous").exists()
    with service.app() as client:
        assert client.get(path, headers=bearer(token)).status_code == 200


def test_the_outcomes_trigger_admits_the_retired_marker_and_nothing_more(
    deployment: tuple[Service, World],
) -> None:
    """The retirement's one change to ``outcomes``: ``request_hash`` set to the retired marker with
    every other column unchanged. With another column changed, or another value, it is refused."""
    service, world = deployment
    _, token = world.institutions[0]
    with service.app() as client:
        posted = client.post(
            "/api/v1/outcomes",
            json=outcome(world.learners[0], "trigger"),
            headers={**bearer(token), "Idempotency-Key": "trigger"},
        )
        assert posted.status_code == 201, posted.text
    outcome_id = posted.json()["id"]
    marker = peppers.RETIRED_FINGERPRINT
    with psycopg.connect(service.url, autocommit=True) as conn:
        # another column: the service's role holds UPDATE on request_hash only (and where a role
        # holds more, the trigger refuses it)
        with pytest.raises(
            (psycopg.errors.InsufficientPrivilege, psycopg.errors.IntegrityConstraintViolation),
            match=r"permission denied|never edited",
        ):
            conn.execute(
                f"UPDATE outcomes SET request_hash = '{marker}', title = 'forged' WHERE id = %s",
                (outcome_id,),
            )
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="never edited"):
            conn.execute("UPDATE outcomes SET request_hash = 'retired' WHERE id = %s", (outcome_id,))
        conn.execute(f"UPDATE outcomes SET request_hash = '{marker}' WHERE id = %s", (outcome_id,))
        row = conn.execute("SELECT request_hash, title FROM outcomes WHERE id = %s", (outcome_id,)).fetchone()
    assert row == (marker, "数字技能培训")
