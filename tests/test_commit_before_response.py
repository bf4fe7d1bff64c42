"""A success is sent only after the commit: a commit that fails is never acknowledged."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.db import create_engine, transaction
from creditbank.main import create_app
from tests.support.factories import institution_body
from tests.support.postgres import OWNER, PostgresServer
from tests.support.server import prepare_database
from tests.support.world import build_world


@pytest.mark.slow
def test_failing_commit_is_not_acknowledged(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(pg_server, "commit_order", tmp_path)
    world = build_world(url, tmp_path, n_institutions=1, n_learners=1)
    for session in transaction(world.ctx.sessions):
        _, admin = create_token(session, world.ctx.token_key, Role.admin)
    owner = create_engine(pg_server.url("commit_order", OWNER), pool_size=1)
    with owner.begin() as conn:
        # a real deferred constraint trigger (made by the tables' owner): the INSERT succeeds, the
        # COMMIT fails
        conn.execute(
            text(
                "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER institutions_refuse AFTER INSERT ON institutions "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
            )
        )
    owner.dispose()
    try:
        with TestClient(create_app(ctx=world.ctx), raise_server_exceptions=False) as client:
            r = client.post(
                "/api/v1/institutions", json=institution_body(), headers={"Authorization": f"Bearer {admin}"}
            )
        assert r.status_code >= 500, "the institution was acknowledged although its commit failed"
        with world.ctx.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM institutions")).scalar_one() == 1
    finally:
        world.ctx.engine.dispose()
