"""The appeal pages (申诉/复核), tried through real HTTP as a browser sends them (the session cookie
and the page's CSRF token), each from the side of whoever should be refused: another learner, a
learner after the period or appealing twice, a cross-site form, a reviewer who took part in the
decision, a district sub-centre's reviewer. The learner appeals with a statement and two files; a
city centre reviewer who took no part changes the credits and the ledger corrects them."""

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.applications.support import apply, decide, image_bytes, pdf_bytes
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner
from tests.support.signin import csrf_of, mint, sign_in

FILES = [
    ("files", ("考勤记录.pdf", pdf_bytes(), "application/pdf")),
    ("files", ("学时证明.png", image_bytes(), "image/png")),
]


def _browser(ctx: AppContext) -> TestClient:
    """Another browser (its own cookies)."""
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def _person(ctx: AppContext, district: str | None, name: str) -> tuple[str, dict[str, str]]:
    """A reviewer person: a token to sign in with, and the same token as API headers."""
    with ctx.sessions() as s, s.begin():
        account = create_reviewer(s, name, district=district)
        _, token = create_token(s, ctx.token_key, Role.reviewer, account.id)
    return token, {"Authorization": f"Bearer {token}"}


def _count(db: Connection, sql: str, **values: str) -> int:
    return int(db.execute(text(sql), values).scalar_one())


class World:
    """A learner in 朝阳区 with an application decided by the reviewers named here."""

    def __init__(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        school = auth(Role.institution, create_institution(client, auth(Role.admin), district="朝阳区"))
        self.client, self.ctx = client, ctx
        self.learner_id = create_learner(client, school)
        self.me = auth(Role.learner, self.learner_id)
        self.district_token, self.district = _person(ctx, "朝阳区", "初审人")
        self.city_token, self.city = _person(ctx, None, "复审人")

    def rejected(self) -> str:
        outcome_id: str = apply(self.client, self.me).json()["outcome"]["id"]
        r = decide(self.client, self.city, outcome_id, "reject", "材料不足以证明学时", f"{outcome_id}-r")
        assert r.status_code == 200, r.text
        return outcome_id

    def recognised(self) -> str:
        """Recognised at 3 credits by the district reviewer, then the city reviewer."""
        outcome_id: str = apply(self.client, self.me).json()["outcome"]["id"]
        for who, key in ((self.district, "d"), (self.city, "c")):
            r = decide(self.client, who, outcome_id, "approve", "核验通过", f"{outcome_id}-{key}")
            assert r.status_code == 200, r.text
        return outcome_id

    def sign_in(self, client: TestClient | None = None) -> str:
        return sign_in(client or self.client, mint(self.ctx, Role.learner, self.learner_id))

    def appeal_by_api(self, outcome_id: str) -> str:
        r = self.client.post(
            "/api/v1/appeals",
            data={"outcome_id": outcome_id, "statement": "实际学时为 64 学时"},
            files=FILES,
            headers=self.me,
        )
        assert r.status_code == 201, r.text
        appeal_id: str = r.json()["id"]
        return appeal_id


def _file(client: TestClient, csrf: str, outcome_id: str, statement: str = "补充了考勤记录") -> Response:
    response: Response = client.post(
        "/appeals",
        data={"csrf": csrf, "outcome_id": outcome_id, "statement": statement},
        files=FILES,
        follow_redirects=False,
    )
    return response


def _age(db: Connection, outcome_id: str, days: int) -> None:
    db.execute(
        text("UPDATE recognitions SET updated_at = :t WHERE outcome_id = :o"),
        {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=days), "o": outcome_id},
    )


class TestWhereTheLearnerAppeals:
    def test_the_pages_offer_an_appeal_until_the_period_ends_then_say_so(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.rejected()
        w.sign_in()
        link = f'href="/appeals/new?outcome_id={outcome_id}"'
        for page in ("/applications", "/archive"):
            html = client.get(page).text
            assert link in html, page
            assert "申诉期至" in html, page
        _age(db, outcome_id, 31)
        for page in ("/applications", "/archive"):
            html = client.get(page).text
            assert link not in html, page
            assert "申诉期已于" in html and "不能再对该决定提出申诉" in html, page


class TestLearnerAppealForm:
    def test_a_learner_appeals_with_a_statement_and_two_files(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.rejected()
        w.sign_in()
        form = client.get(f"/appeals/new?outcome_id={outcome_id}")
        assert form.status_code == 200 and 'id="appeal-form"' in form.text
        filed = _file(client, csrf_of(form.text), outcome_id)
        assert filed.status_code == 303, filed.text
        appeal_id = filed.headers["location"].rsplit("#", 1)[1]
        assert appeal_id.startswith("apc_")
        listed = client.get("/appeals")
        assert f'id="{appeal_id}" data-status="open"' in listed.text
        assert "考勤记录.pdf" in listed.text and "补充了考勤记录" in listed.text
        files = re.findall(rf'href="(/appeals/{appeal_id}/evidence/evd_[^"]+)"', listed.text)
        assert len(files) == 2
        assert client.get(files[0]).headers["content-type"] == "application/pdf"
        assert _count(db, "SELECT count(*) FROM application_files WHERE appeal_id = :a", a=appeal_id) == 2
        # the applications page now points to the appeal instead of offering another
        html = client.get("/applications").text
        assert f'href="/appeals#{appeal_id}"' in html and f"/appeals/new?outcome_id={outcome_id}" not in html

    def test_another_learners_outcome_is_not_found_and_nothing_is_written(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.rejected()
        w.sign_in()
        assert client.get(f"/appeals/new?outcome_id={outcome_id}").status_code == 200  # its learner's form
        other = World(client, auth, ctx)
        browser = _browser(ctx)
        csrf = other.sign_in(browser)
        peek = browser.get(f"/appeals/new?outcome_id={outcome_id}")
        assert peek.status_code == 404 and f"您没有成果 {outcome_id}" in peek.text
        refused = _file(browser, csrf, outcome_id)
        assert refused.status_code == 404 and f"您没有成果 {outcome_id}" in refused.text, refused.text
        assert _count(db, "SELECT count(*) FROM appeals WHERE outcome_id = :o", o=outcome_id) == 0
        assert (
            _count(
                db,
                "SELECT count(*) FROM application_files WHERE appeal_id IS NOT NULL AND learner_id = :l",
                l=other.learner_id,
            )
            == 0
        )

    def test_after_the_period_a_form_error_in_chinese_and_no_row(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.recognised()
        csrf = w.sign_in()
        _age(db, outcome_id, 31)
        form = client.get(f"/appeals/new?outcome_id={outcome_id}")
        assert 'id="appeal-form"' not in form.text and "申诉期限已过" in form.text
        late = _file(client, csrf, outcome_id)
        assert late.status_code == 409 and "申诉期限已过" in late.text, late.text
        assert _count(db, "SELECT count(*) FROM appeals WHERE learner_id = :l", l=w.learner_id) == 0
        assert (
            _count(
                db,
                "SELECT count(*) FROM application_files WHERE appeal_id IS NOT NULL AND learner_id = :l",
                l=w.learner_id,
            )
            == 0
        )
        # in English for a reader who chose it
        client.cookies.set("cb_lang", "en")
        english = _file(client, csrf, outcome_id)
        assert english.status_code == 409 and "The period for an appeal has ended" in english.text

    def test_a_second_appeal_is_a_form_error(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.rejected()
        csrf = w.sign_in()
        assert _file(client, csrf, outcome_id).status_code == 303
        again = _file(client, csrf, outcome_id, "再次申诉")
        assert again.status_code == 409 and "已提交过申诉" in again.text, again.text
        assert _count(db, "SELECT count(*) FROM appeals WHERE outcome_id = :o", o=outcome_id) == 1

    def test_a_form_without_a_statement_or_files_is_shown_again_and_nothing_kept(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.rejected()
        csrf = w.sign_in()
        silent = _file(client, csrf, outcome_id, " ")
        assert silent.status_code == 422 and 'id="appeal-error"' in silent.text
        bare = client.post("/appeals", data={"csrf": csrf, "outcome_id": outcome_id, "statement": "学时有误"})
        assert bare.status_code == 422 and 'id="appeal-error"' in bare.text and "学时有误" in bare.text
        fake = client.post(
            "/appeals",
            data={"csrf": csrf, "outcome_id": outcome_id, "statement": "学时有误"},
            files=[("files", ("证明.pdf", b"not a pdf at all", "application/pdf"))],
        )
        assert fake.status_code == 422 and 'id="appeal-error"' in fake.text, fake.text
        assert _count(db, "SELECT count(*) FROM appeals WHERE outcome_id = :o", o=outcome_id) == 0

    def test_a_cross_site_post_without_the_csrf_token_is_refused(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.rejected()
        w.sign_in()
        forged = client.post(
            "/appeals",
            data={"outcome_id": outcome_id, "statement": "跨站提交"},
            files=FILES,
            follow_redirects=False,
        )
        assert forged.status_code == 403 and forged.json()["type"].endswith("/csrf-failed")
        assert _count(db, "SELECT count(*) FROM appeals WHERE outcome_id = :o", o=outcome_id) == 0

    def test_strangers_get_the_sign_in_form(self, client: TestClient) -> None:
        for page in ("/appeals", "/appeals/new?outcome_id=out_x"):
            html = client.get(page).text
            assert 'name="token"' in html, page


class TestReviewerAppealPages:
    def test_a_city_reviewer_who_took_no_part_changes_the_credits(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.recognised()
        appeal_id = w.appeal_by_api(outcome_id)
        desk = _browser(ctx)
        sign_in(desk, _person(ctx, None, "复核人")[0])
        queue = desk.get("/console/appeals")
        assert queue.status_code == 200
        assert f'data-appeal="{appeal_id}" data-may-decide="yes"' in queue.text
        case = desk.get(f"/console/appeals/{appeal_id}")
        assert case.status_code == 200 and 'id="decision-form"' in case.text
        assert "3 学分" in case.text and "实际学时为 64 学时" in case.text
        assert "核验通过" in case.text  # the outcome's history
        for kind in ("applications", "appeals"):
            urls = re.findall(rf'href="(/{kind}/[^"]+/evidence/evd_[^"]+)"', case.text)
            assert len(urls) == 2, kind
            assert desk.get(urls[0]).status_code == 200
        csrf = csrf_of(case.text)
        unsure = desk.post(
            f"/console/appeals/{appeal_id}/decision",
            data={"csrf": csrf, "decision": "change", "reason": "按 64 学时改判"},
        )
        assert unsure.status_code == 422 and 'id="decision-error"' in unsure.text
        done = desk.post(
            f"/console/appeals/{appeal_id}/decision",
            data={"csrf": csrf, "decision": "change", "reason": "按 64 学时改判", "credits": "4"},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        assert f'data-appeal="{appeal_id}"' not in desk.get(done.headers["location"]).text
        row = db.execute(
            text("SELECT status, credits_after FROM appeals WHERE id = :a"), {"a": appeal_id}
        ).one()
        assert row.status == "changed" and row.credits_after == Decimal(4)
        archive = client.get(f"/api/v1/learners/{w.learner_id}/archive", headers=w.me).json()
        lots = [lot for lot in archive["lots"] if lot["outcome_id"] == outcome_id]
        assert {lot["state"]: Decimal(lot["credits"]) for lot in lots}.get("available") == 4, lots
        # the learner's list shows the decision
        w.sign_in()
        mine = client.get("/appeals").text
        assert f'id="{appeal_id}" data-status="changed"' in mine and "按 64 学时改判" in mine

    def test_a_reviewer_who_took_part_reads_why_they_may_not_decide(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.recognised()
        appeal_id = w.appeal_by_api(outcome_id)
        desk = _browser(ctx)
        sign_in(desk, w.city_token)
        queue = desk.get("/console/appeals")
        assert f'data-appeal="{appeal_id}" data-may-decide="no"' in queue.text
        case = desk.get(f"/console/appeals/{appeal_id}")
        assert case.status_code == 403 and 'id="may-not-decide"' in case.text
        assert 'id="decision-form"' not in case.text and "参与" in case.text
        csrf = csrf_of(case.text)
        tried = desk.post(
            f"/console/appeals/{appeal_id}/decision",
            data={"csrf": csrf, "decision": "change", "reason": "改判", "credits": "5"},
        )
        assert tried.status_code == 403 and "参与" in tried.text
        assert _count(db, "SELECT count(*) FROM appeals WHERE id = :a AND status = 'open'", a=appeal_id) == 1

    def test_a_district_reviewer_cannot_open_the_queue(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        appeal_id = w.appeal_by_api(w.rejected())
        desk = _browser(ctx)
        csrf = sign_in(desk, _person(ctx, "朝阳区", "区审核员")[0])
        for page in ("/console/appeals", f"/console/appeals/{appeal_id}"):
            refused = desk.get(page)
            assert refused.status_code == 403, page
            assert "text/html" in refused.headers["content-type"] and "市级管理中心" in refused.text
        tried = desk.post(
            f"/console/appeals/{appeal_id}/decision",
            data={"csrf": csrf, "decision": "uphold", "reason": "维持"},
        )
        assert tried.status_code == 403
        assert _count(db, "SELECT count(*) FROM appeals WHERE id = :a AND status = 'open'", a=appeal_id) == 1
        assert 'id="appeals-link"' not in desk.get("/console").text

    def test_a_rejection_upheld_without_the_csrf_token_is_refused_then_upheld(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        w = World(client, auth, ctx)
        appeal_id = w.appeal_by_api(w.rejected())
        desk = _browser(ctx)
        csrf = sign_in(desk, _person(ctx, None, "复核人")[0])
        assert 'id="appeals-link"' in desk.get("/console").text
        forged = desk.post(
            f"/console/appeals/{appeal_id}/decision", data={"decision": "uphold", "reason": "维持"}
        )
        assert forged.status_code == 403 and forged.json()["type"].endswith("/csrf-failed")
        upheld = desk.post(
            f"/console/appeals/{appeal_id}/decision",
            data={"csrf": csrf, "decision": "uphold", "reason": "考勤记录不完整"},
            follow_redirects=False,
        )
        assert upheld.status_code == 303, upheld.text
        again = desk.post(
            f"/console/appeals/{appeal_id}/decision",
            data={"csrf": csrf, "decision": "uphold", "reason": "再议"},
        )
        assert again.status_code == 409
        assert (
            _count(db, "SELECT count(*) FROM appeals WHERE id = :a AND status = 'upheld'", a=appeal_id) == 1
        )

    def test_the_pages_need_a_reviewer(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        w = World(client, auth, ctx)
        appeal_id = w.appeal_by_api(w.rejected())
        assert client.get("/console/appeals").status_code == 401
        assert client.get(f"/console/appeals/{appeal_id}", headers=w.me).status_code == 403


class TestWhatTheLearnerIsToldAfterTheAppeal:
    def test_the_archive_explains_the_new_credits_and_the_inbox_links_to_the_appeals(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.recognised()
        appeal_id = w.appeal_by_api(outcome_id)
        fresh = _person(ctx, None, "复核人")[1]
        changed = client.post(
            f"/api/v1/appeals/{appeal_id}/decision",
            json={"decision": "change", "reason": "按 64 学时改判", "credits": 4},
            headers={**fresh, "Idempotency-Key": f"{appeal_id}-x"},
        )
        assert changed.status_code == 200, changed.text
        day = dt.datetime.fromisoformat(changed.json()["decided_at"]).date().isoformat()

        archive = client.get(f"/api/v1/learners/{w.learner_id}/archive", headers=w.me).json()
        [mine] = [o for o in archive["outcomes"] if o["id"] == outcome_id]
        zh, en = mine["recognition"]["explanation_zh"], mine["recognition"]["explanation_en"]
        # the explanation leads with the change; the old figure only as what it was before
        now_zh, before_zh = zh.split("申诉前的说明", 1)
        assert day in now_zh and "改为认定 4 学分" in now_zh and "原认定 3 学分" in now_zh, zh
        assert "认定 3 学分（" not in now_zh and "认定 3 学分" in before_zh, zh
        now_en = en.split("Before the appeal", 1)[0]
        assert day in now_en and "changed to 4 credits" in now_en and "formerly 3 credits" in now_en, en
        [lot] = [x for x in archive["lots"] if x["outcome_id"] == outcome_id and x["state"] == "available"]
        assert lot["explanation_zh"] == zh

        w.sign_in()
        page = client.get("/archive").text
        card = page.split(f'id="outcome-{outcome_id}"', 1)[1].split("</article>", 1)[0]
        assert "改为认定 4 学分" in card and day in card, card

        inbox = client.get(f"/api/v1/learners/{w.learner_id}/inbox", headers=w.me).json()
        told = [m for m in inbox if m["key"].startswith(f"event:{outcome_id}:")]
        about = [m for m in told if "申诉" in m["text_zh"]]
        assert len(about) == 2, told  # filed, then changed
        assert {m["link"] for m in about} == {f"/appeals#{appeal_id}"}, about
        others = [m for m in told if m not in about]
        assert others and {m["link"] for m in others} == {f"/archive#outcome-{outcome_id}"}, others

    def test_an_upheld_appeal_links_to_the_appeals_and_leaves_the_explanation(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        w = World(client, auth, ctx)
        outcome_id = w.rejected()
        before = client.get(f"/api/v1/learners/{w.learner_id}/archive", headers=w.me).json()
        appeal_id = w.appeal_by_api(outcome_id)
        upheld = client.post(
            f"/api/v1/appeals/{appeal_id}/decision",
            json={"decision": "uphold", "reason": "考勤记录不完整"},
            headers={**_person(ctx, None, "复核人")[1], "Idempotency-Key": f"{appeal_id}-u"},
        )
        assert upheld.status_code == 200, upheld.text
        after = client.get(f"/api/v1/learners/{w.learner_id}/archive", headers=w.me).json()

        def said(archive: Any) -> str:
            return str(
                next(o["recognition"]["explanation_zh"] for o in archive["outcomes"] if o["id"] == outcome_id)
            )

        assert said(after) == said(before)
        inbox = client.get(f"/api/v1/learners/{w.learner_id}/inbox", headers=w.me).json()
        about = [m for m in inbox if "申诉" in m["text_zh"] or "维持原决定" in m["text_zh"]]
        assert len(about) == 2 and {m["link"] for m in about} == {f"/appeals#{appeal_id}"}, about
