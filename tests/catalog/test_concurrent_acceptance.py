"""Twenty acceptances of the same certificate at once, at two schools: exactly one converts."""

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.db import transaction
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.support.world import build_world

pytestmark = pytest.mark.slow


def test_twenty_concurrent_acceptances_convert_once(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(pg_server, "acceptance_race", tmp_path)
    world = build_world(url, tmp_path, n_institutions=3, n_learners=1)
    (_, source_token), (school_b, token_b), (school_c, token_c) = world.institutions
    learner = world.learners[0]
    for session in transaction(world.ctx.sessions):
        _, learner_token = create_token(session, world.ctx.token_key, Role.learner, learner)
    server = ServerProcess(url, tmp_path, workers=2).start()
    try:
        http = httpx.Client(base_url=server.base_url, timeout=60)

        def auth(token: str, key: str | None = None) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}

        posted = http.post(
            "/api/v1/outcomes",
            json={
                "learner_id": learner,
                "reference": "X-1",
                "outcome_type": "one_plus_x_certificate",
                "title": "Web前端开发职业技能等级证书（高级）",
                "level": "高级",
                "field": "web_front_end",
                "achieved_on": (dt.date.today() - dt.timedelta(days=9)).isoformat(),
            },
            headers=auth(source_token, "x1"),
        )
        assert posted.status_code == 201, posted.text
        lot = posted.json()["recognition"]["lot_id"]
        programmes = {}
        for school, token in ((school_b, token_b), (school_c, token_c)):
            r = http.post(
                "/api/v1/programmes",
                json={"code": "P1", "title_zh": "软件技术", "title_en": "Software", "graduation_credits": 40},
                headers={**auth(token), "Idempotency-Key": f"programme-{school}"},
            )
            assert r.status_code == 201, r.text
            programmes[school] = r.json()["id"]
        # wait for a checkpoint covering the recognition (certificates carry a ledger inclusion proof)
        deadline = time.monotonic() + 20
        while http.get("/logs").json()[0]["size"] < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        transfer = http.post(
            "/api/v1/transfers",
            json={
                "lot_ids": [lot],
                "destination_institution_id": school_b,
                "programme_id": programmes[school_b],
            },
            headers=auth(learner_token, "t1"),
        )
        assert transfer.status_code == 201, transfer.text
        certificates = transfer.json()["certificates"]

        def accept(n: int) -> int:
            school, token = ((school_b, token_b), (school_c, token_c))[n % 2]
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                r = client.post(
                    "/api/v1/conversions",
                    json={"programme_id": programmes[school], "certificates": certificates},
                    headers=auth(token, f"accept-{n}"),
                )
            assert r.status_code in (201, 409), r.text
            return r.status_code

        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(accept, range(20)))
        assert codes.count(201) == 1, codes
        assert codes.count(409) == 19
        with world.ctx.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM conversions")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM ledger_lot_locks")).scalar_one() == 1
            kinds = [k for (k,) in conn.execute(text("SELECT kind FROM ledger_transactions ORDER BY seq"))]
            assert kinds.count("conversion") == 1
        http.close()
    finally:
        server.stop()
        world.ctx.engine.dispose()
