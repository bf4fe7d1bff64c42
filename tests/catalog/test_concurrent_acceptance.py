"""Twenty acceptances of a transfer at once at its destination B convert exactly once, while a
second school C, holding the same certificates, tries to take them at the same moment and always fails."""

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


def test_twenty_concurrent_acceptances_at_the_destination_convert_once(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
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
        transfer_id = transfer.json()["id"]

        def attempt(n: int) -> tuple[str, int, str]:
            """Even n: B accepts the transfer. Odd n: C tries its accept route or /conversions."""
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                if n % 2 == 0:
                    r = client.post(
                        f"/api/v1/transfers/{transfer_id}/accept", headers=auth(token_b, f"b-{n}")
                    )
                    who = "B"
                elif n % 4 == 1:
                    r = client.post(
                        f"/api/v1/transfers/{transfer_id}/accept", headers=auth(token_c, f"c-{n}")
                    )
                    who = "C"
                else:
                    r = client.post(
                        "/api/v1/conversions",
                        json={"programme_id": programmes[school_c], "certificates": certificates},
                        headers=auth(token_c, f"c-{n}"),
                    )
                    who = "C"
            kind = r.json().get("type", "").rsplit("/", 1)[-1] if r.status_code >= 400 else ""
            return who, r.status_code, kind

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(attempt, range(40)))
        at_b = [(code, kind) for who, code, kind in results if who == "B"]
        at_c = [(code, kind) for who, code, kind in results if who == "C"]
        assert len(at_b) == 20 and len(at_c) == 20
        assert [code for code, _ in at_b].count(200) == 1, at_b
        assert all(
            kind in ("transfer-closed", "lot-already-converted") for code, kind in at_b if code != 200
        ), at_b
        assert all(code == 403 and kind == "not-the-destination" for code, kind in at_c), at_c
        with world.ctx.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM conversions")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM ledger_lot_locks")).scalar_one() == 1
            assert conn.execute(text("SELECT institution_id FROM conversions")).scalar_one() == school_b
            kinds = [k for (k,) in conn.execute(text("SELECT kind FROM ledger_transactions ORDER BY seq"))]
            assert kinds.count("conversion") == 1
            used = conn.execute(text("SELECT count(*) FROM learner_consents WHERE used_at IS NOT NULL"))
            assert used.scalar_one() == 1
        http.close()
    finally:
        server.stop()
        world.ctx.engine.dispose()
