"""The registrar's console, tried from both sides through real HTTP: a learner's correction request
accepted (the correction posted, the old credits reversed in the ledger) or declined with a reason
the learner reads; another school opening, accepting or declining it; the outcome list paged by
keyset over thousands of rows (complete, ordered, no row twice); learner names only where the
school may read them."""

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.outcomes.factories import days_ago, key, training
from tests.support.factories import create_institution, create_learner, grant
from tests.support.signin import csrf_of, mint, signin

NEXT = 'id="next-page" href="'


def _browser(
    ctx: AppContext, role: Role, subject: str | None, page: str = "/console"
) -> tuple[TestClient, str]:
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    assert signin(browser, mint(ctx, role, subject)).status_code == 303
    return browser, csrf_of(browser.get(page).text)


def _post(client: TestClient, headers: dict[str, str], learner_id: str, body: dict[str, Any]) -> str:
    response = client.post(
        "/api/v1/outcomes",
        json={"learner_id": learner_id, **body},
        headers={**headers, "Idempotency-Key": key()},
    )
    assert response.status_code == 201, response.text
    outcome_id: str = response.json()["id"]
    return outcome_id


def _events(db: Connection, outcome_id: str) -> list[str]:
    rows = db.execute(
        text("SELECT kind FROM outcome_events WHERE outcome_id = :o ORDER BY id"), {"o": outcome_id}
    )
    return list(rows.scalars())


class World:
    def __init__(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        admin = auth(Role.admin)
        self.school_id = create_institution(client, admin)
        self.other_id = create_institution(client, admin)
        self.school = auth(Role.institution, self.school_id)
        self.learner_id = create_learner(client, self.school, name="李晓华")
        self.outcome_id = _post(
            client, self.school, self.learner_id, training("T-1", title="Python 数据分析")
        )
        learner, csrf = _browser(ctx, Role.learner, self.learner_id, "/archive")
        asked = learner.post(
            "/archive/correction",
            data={"csrf": csrf, "outcome_id": self.outcome_id, "reason": "学时应为 64"},
            follow_redirects=False,
        )
        assert asked.status_code == 303, asked.text
        self.learner = learner


class TestCorrectionRequests:
    def test_accepting_posts_the_correction_and_reverses_the_credits(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        registrar, csrf = _browser(ctx, Role.institution, w.school_id)
        console = registrar.get("/console").text
        assert f'href="/console/corrections/{w.outcome_id}"' in console
        form = registrar.get(f"/console/corrections/{w.outcome_id}")
        assert form.status_code == 200 and "学时应为 64" in form.text
        assert 'value="48"' in form.text and 'value="T-1"' in form.text  # the outcome's facts, to correct

        fields = {
            "csrf": csrf,
            "learner_id": w.learner_id,
            "reference": "T-1",
            "outcome_type": "training_course",
            "title": "Python 数据分析",
            "achieved_on": days_ago(30),
            "hours": "64",
        }
        bad = registrar.post(f"/console/corrections/{w.outcome_id}", data={**fields, "hours": "很多"})
        assert bad.status_code == 422 and 'role="alert"' in bad.text
        done = registrar.post(f"/console/corrections/{w.outcome_id}", data=fields, follow_redirects=False)
        assert done.status_code == 303, done.text
        status = db.execute(
            text("SELECT status FROM recognitions WHERE outcome_id = :o"), {"o": w.outcome_id}
        )
        assert status.scalar_one() == "superseded"
        new = db.execute(
            text("SELECT id, reference, hours FROM outcomes WHERE supersedes_id = :o"), {"o": w.outcome_id}
        ).one()
        assert new.reference == "T-1~c1" and new.hours == 64
        reversals = db.execute(
            text(
                "SELECT count(*) FROM ledger_transactions WHERE reverses_id IS NOT NULL AND learner_id = :l"
            ),
            {"l": w.learner_id},
        ).scalar_one()
        assert reversals == 1
        assert f'href="/console/corrections/{w.outcome_id}"' not in registrar.get("/console").text

    def test_declining_with_a_reason_the_learner_reads(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        registrar, csrf = _browser(ctx, Role.institution, w.school_id)
        url = f"/console/corrections/{w.outcome_id}/refuse"
        assert registrar.post(url, data={"csrf": csrf, "reason": ""}).status_code == 422
        done = registrar.post(
            url, data={"csrf": csrf, "reason": "培训记录显示 48 学时"}, follow_redirects=False
        )
        assert done.status_code == 303, done.text
        assert _events(db, w.outcome_id)[-1] == "correction_refused"
        assert f'href="/console/corrections/{w.outcome_id}"' not in registrar.get("/console").text
        assert "培训记录显示 48 学时" in w.learner.get("/archive").text
        again = registrar.post(url, data={"csrf": csrf, "reason": "再次"})
        assert again.status_code == 409, again.text
        # a new request after the answer is open again
        asked = w.learner.post(
            "/archive/correction",
            data={
                "csrf": csrf_of(w.learner.get("/archive").text),
                "outcome_id": w.outcome_id,
                "reason": "请再核",
            },
            follow_redirects=False,
        )
        assert asked.status_code == 303
        assert f'href="/console/corrections/{w.outcome_id}"' in registrar.get("/console").text

    def test_another_school_can_neither_open_nor_answer(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        intruder, csrf = _browser(ctx, Role.institution, w.other_id)
        assert f"/console/corrections/{w.outcome_id}" not in intruder.get("/console").text
        opened = intruder.get(f"/console/corrections/{w.outcome_id}")
        assert opened.status_code == 404 and "学时应为 64" not in opened.text and "Python" not in opened.text
        fields = {
            "csrf": csrf,
            "learner_id": w.learner_id,
            "reference": "T-1",
            "outcome_type": "training_course",
            "title": "篡改",
            "achieved_on": days_ago(30),
            "hours": "999",
        }
        accepted = intruder.post(f"/console/corrections/{w.outcome_id}", data=fields)
        assert accepted.status_code == 404, accepted.text
        refused = intruder.post(
            f"/console/corrections/{w.outcome_id}/refuse", data={"csrf": csrf, "reason": "越权"}
        )
        assert refused.status_code == 404, refused.text
        before = _events(db, w.outcome_id)
        assert before[-1] == "correction_requested" and "correction_refused" not in before
        count = db.execute(
            text("SELECT count(*) FROM outcomes WHERE supersedes_id = :o"), {"o": w.outcome_id}
        )
        assert count.scalar_one() == 0
        # a learner's session cannot answer either, and a cross-site post carries no token
        assert (
            w.learner.post(f"/console/corrections/{w.outcome_id}/refuse", data={"reason": "x y"}).status_code
            == 403
        )
        owner, _ = _browser(ctx, Role.institution, w.school_id)
        forged = owner.post(f"/console/corrections/{w.outcome_id}/refuse", data={"reason": "跨站伪造"})
        assert forged.status_code == 403 and "correction_refused" not in _events(db, w.outcome_id)


def _batch(client: TestClient, headers: dict[str, str], learner_id: str, start: int, count: int) -> None:
    rows = [
        {
            "learner_id": learner_id,
            "reference": f"P-{n:05d}",
            "outcome_type": "training_course",
            "title": f"培训 {n}",
            "achieved_on": days_ago(40),
            "hours": 16,
        }
        for n in range(start, start + count)
    ]
    response = client.post(
        "/api/v1/outcomes/batch",
        content="\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
        headers={**headers, "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["created"] == count, response.text[:500]


class TestOutcomeList:
    def test_paging_over_thousands_of_rows_is_complete_and_ordered(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        admin = auth(Role.admin)
        school_id = create_institution(client, admin)
        school = auth(Role.institution, school_id)
        learner_id = create_learner(client, school)
        total = 2_600
        for start in range(0, total, 1_300):
            _batch(client, school, learner_id, start, 1_300)
        browser, _ = _browser(ctx, Role.institution, school_id)
        seen: list[str] = []
        url: str | None = "/console/outcomes"
        pages = 0
        while url:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            seen += [part.split('"', 1)[0] for part in page.text.split('data-outcome="')[1:]]
            pages += 1
            url = (
                page.text.split(NEXT, 1)[1].split('"', 1)[0].replace("&amp;", "&")
                if NEXT in page.text
                else None
            )
        expected = list(
            db.execute(
                text("SELECT id FROM outcomes WHERE institution_id = :i ORDER BY created_at DESC, id DESC"),
                {"i": school_id},
            ).scalars()
        )
        assert len(expected) == total
        assert seen == expected, "every row once, newest first"
        assert pages == total // 50 + (1 if total % 50 else 0)

        found = browser.get("/console/outcomes?q=P-01234").text
        assert [p.split('"', 1)[0] for p in found.split('data-outcome="')[1:]] == [
            db.execute(text("SELECT id FROM outcomes WHERE reference = 'P-01234'")).scalar_one()
        ]
        assert 'data-outcome="' not in browser.get("/console/outcomes?status=revoked").text
        assert browser.get("/console/outcomes?after=not-a-cursor").status_code == 422

    def test_names_only_where_the_school_may_read_them(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        admin = auth(Role.admin)
        school_id, other_id = create_institution(client, admin), create_institution(client, admin)
        school = auth(Role.institution, school_id)
        granted = create_learner(client, school, name="张授权")
        silent = create_learner(client, school, name="王未授权")
        _post(client, school, granted, training("N-1"))
        _post(client, school, silent, training("N-2"))
        grant(client, auth, granted, school_id)
        browser, _ = _browser(ctx, Role.institution, school_id)
        page = browser.get("/console/outcomes").text
        assert "张授权" in page and granted in page
        assert "王未授权" not in page and silent in page  # the id only
        logged = (
            db.execute(
                text("SELECT what FROM archive_access_log WHERE learner_id = :l AND reader_subject = :s"),
                {"l": granted, "s": school_id},
            )
            .scalars()
            .all()
        )
        assert any(w.startswith("name (outcome list) (grant ") for w in logged)
        assert (
            db.execute(
                text("SELECT count(*) FROM archive_access_log WHERE learner_id = :l"), {"l": silent}
            ).scalar_one()
            == 0
        )
        # another school: neither the rows nor the names, whatever it searches
        grant(client, auth, granted, other_id)  # even with a grant of its own, only its own rows
        intruder, _ = _browser(ctx, Role.institution, other_id)
        for query in ("", f"?q={granted}", "?q=N-1"):
            seen = intruder.get(f"/console/outcomes{query}").text
            assert "张授权" not in seen and 'data-outcome="' not in seen
        # a reviewer or a learner gets the sign-in form, not the list
        reviewer, _ = _browser(ctx, Role.reviewer, None)
        assert 'data-outcome="' not in reviewer.get("/console/outcomes").text
