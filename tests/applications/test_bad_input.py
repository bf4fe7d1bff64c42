"""Bad input to applications, from the learner's side through real HTTP: oversized and mistyped
files, a file that claims PDF and is not, a second application for the same outcome, an erased
learner, an account nobody verified. Each is a clear problem (API) or a Chinese form error (page),
and nothing of it is kept: no application, outcome or file row."""

import dataclasses
import html
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.learners import vault
from creditbank.main import create_app
from tests.applications.support import apply, claim, image_bytes, pdf_bytes, two_files
from tests.conftest import Tokens
from tests.learners.accounts_support import phone, register
from tests.support.factories import create_institution, create_learner, identity_number
from tests.support.signin import csrf_of


def _learner(client: TestClient, auth: Tokens) -> tuple[str, dict[str, str]]:
    admin = auth(Role.admin)
    school = auth(Role.institution, create_institution(client, admin, district="朝阳区"))
    learner_id = create_learner(client, school)
    return learner_id, auth(Role.learner, learner_id)


def _nothing_kept(db: Connection, learner_id: str) -> None:
    for table in ("applications", "application_files", "outcomes"):
        count = db.execute(
            text(f"SELECT count(*) FROM {table} WHERE learner_id = :l"), {"l": learner_id}
        ).scalar()
        assert count == 0, f"{table} kept {count} rows"


def _small(ctx: AppContext, **limits: int) -> TestClient:
    settings = ctx.settings.model_copy(update=limits)
    return TestClient(
        create_app(ctx=dataclasses.replace(ctx, settings=settings)), raise_server_exceptions=False
    )


BAD_FILES = [
    pytest.param(
        ("notes.txt", b"just some text, no evidence", "text/plain"),
        415,
        "evidence-type-unsupported",
        id="text",
    ),
    pytest.param(
        ("certificate.pdf", image_bytes("PNG"), "application/pdf"),
        422,
        "evidence-type-mismatch",
        id="png-named-pdf",
    ),
    pytest.param(
        ("certificate.pdf", b"%PDF-1.7\n this is not a pdf at all", "application/pdf"),
        422,
        "evidence-unreadable",
        id="fake-pdf",
    ),
    pytest.param(
        ("scan.png", image_bytes("PNG")[:60], "image/png"), 422, "evidence-unreadable", id="truncated-png"
    ),
    pytest.param(
        ("scan.jpg", b"<svg onload=alert(1)>", "image/jpeg"),
        422,
        "evidence-type-mismatch",
        id="svg-named-jpeg",
    ),
    pytest.param(("empty.pdf", b"", "application/pdf"), 422, "evidence-empty", id="empty"),
]


class TestFiles:
    @pytest.mark.parametrize(("upload", "status", "slug"), BAD_FILES)
    def test_a_bad_file_is_refused_and_nothing_is_kept(
        self,
        client: TestClient,
        auth: Tokens,
        db: Connection,
        upload: tuple[str, bytes, str],
        status: int,
        slug: str,
    ) -> None:
        learner_id, me = _learner(client, auth)
        good = ("files", ("证书.pdf", pdf_bytes(), "application/pdf"))
        refused = apply(client, me, files=[good, ("files", upload)])
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/" + slug)
        _nothing_kept(db, learner_id)

    def test_oversized_file_and_application(self, auth: Tokens, ctx: AppContext, db: Connection) -> None:
        small = _small(ctx, application_file_max_bytes=2000, application_max_bytes=3000)
        learner_id, me = _learner(small, auth)
        one = apply(
            small, me, files=[("files", ("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 2100, "image/png"))]
        )
        assert one.status_code == 413 and one.json()["type"].endswith("/evidence-too-large"), one.text
        two = [
            ("files", (f"p{i}.png", image_bytes("PNG", (4, 4)) + b"\0" * 900, "image/png")) for i in range(4)
        ]
        total = apply(small, me, files=two)
        assert total.status_code == 413 and total.json()["type"].endswith("/evidence-too-large"), total.text
        # a body far over the route's limit is refused before it is read
        huge = apply(small, me, files=[("files", ("huge.pdf", b"%PDF-" + b"0" * 400_000, "application/pdf"))])
        assert huge.status_code == 413, huge.text
        _nothing_kept(db, learner_id)

    def test_too_many_and_no_files(self, auth: Tokens, ctx: AppContext, db: Connection) -> None:
        small = _small(ctx, application_max_files=2)
        learner_id, me = _learner(small, auth)
        three = [("files", (f"p{i}.png", image_bytes(), "image/png")) for i in range(3)]
        many = apply(small, me, files=three)
        assert many.status_code == 422 and many.json()["type"].endswith("/evidence-too-many-files"), many.text
        none = small.post("/api/v1/applications", data=claim(), headers=me)
        assert none.status_code == 422, none.text
        _nothing_kept(db, learner_id)


class TestClaims:
    def test_a_second_application_for_the_same_outcome_is_a_conflict(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        learner_id, me = _learner(client, auth)
        first = apply(client, me, title="茶艺师培训")
        assert first.status_code == 201, first.text
        # the same outcome, its title written with other spaces
        again = apply(client, me, title=" 茶艺师 培训 ")
        assert again.status_code == 409 and again.json()["type"].endswith("/duplicate-application"), (
            again.text
        )
        rows = db.execute(
            text("SELECT count(*) FROM applications WHERE learner_id = :l"), {"l": learner_id}
        ).scalar()
        files = db.execute(
            text("SELECT count(*) FROM application_files WHERE learner_id = :l"), {"l": learner_id}
        ).scalar()
        assert (rows, files) == (1, 2)

    def test_invalid_fields_are_named(self, client: TestClient, auth: Tokens, db: Connection) -> None:
        learner_id, me = _learner(client, auth)
        for name, value, said in (
            ("achieved_on", "2099-01-01", "achieved_on"),
            ("issuer_kind", "pirate", "issuer_kind"),
            ("district", "火星区", "unknown-district"),
        ):
            refused = client.post(
                "/api/v1/applications", data=claim(**{name: value}), files=two_files(), headers=me
            )
            assert refused.status_code == 422, (name, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert said in refused.text
        _nothing_kept(db, learner_id)

    def test_an_erased_learner_cannot_apply(self, client: TestClient, auth: Tokens, db: Connection) -> None:
        learner_id, me = _learner(client, auth)
        admin = auth(Role.admin)
        erased = client.post(
            f"/api/v1/learners/{learner_id}/erasure", headers={**admin, "Idempotency-Key": "erase-apply-1"}
        )
        assert erased.status_code == 200, erased.text
        # the learner's own tokens are revoked with the erasure; a fresh one must not reach further
        assert apply(client, me).status_code == 401
        refused = apply(client, auth(Role.learner, learner_id))
        assert refused.status_code == 409 and refused.json()["type"].endswith("/learner-erased"), refused.text
        _nothing_kept(db, learner_id)


class TestErasure:
    def test_erasure_shreds_the_evidence(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        learner_id, me = _learner(client, auth)
        body = apply(client, me).json()
        file_id = body["evidence"][0]["id"]
        sealed = bytes(
            db.execute(
                text("SELECT sealed FROM application_files WHERE id = :f"), {"f": file_id}
            ).scalar_one()
        )
        with ctx.sessions() as s:  # before: it opens under the learner's data key
            assert vault.open_file(s, ctx.secrets.master_key, learner_id, sealed, file_id).startswith(
                b"%PDF-"
            )
        erased = client.post(
            f"/api/v1/learners/{learner_id}/erasure", headers={**me, "Idempotency-Key": "erase-apply-2"}
        )
        assert erased.status_code == 200, erased.text
        left = db.execute(
            text("SELECT count(*) FROM application_files WHERE learner_id = :l"), {"l": learner_id}
        )
        assert left.scalar() == 0
        with ctx.sessions() as s, pytest.raises(vault.VaultShredded):  # a copy from a backup opens no more
            vault.open_file(s, ctx.secrets.master_key, learner_id, sealed, file_id)
        reviewer_url = client.get(body["evidence"][0]["url"], headers=auth(Role.learner, learner_id))
        assert reviewer_url.status_code in (404, 409), reviewer_url.text


class TestPages:
    def test_an_unverified_account_cannot_apply(self, ctx: AppContext, db: Connection) -> None:
        browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        contact = phone()
        opened = register(browser, identity_number(), contact=contact)
        assert opened.status_code == 303, opened.text
        page = browser.get("/applications", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/account"
        csrf = csrf_of(browser.get("/account").text)
        refused = browser.post(
            "/applications",
            data={**claim(), "csrf": csrf},
            files=[("files", ("证书.pdf", pdf_bytes(), "application/pdf"))],
            follow_redirects=False,
        )
        assert refused.status_code == 403, refused.text
        assert db.execute(text("SELECT count(*) FROM applications")).scalar() == 0

    def test_a_fake_pdf_on_the_form_is_a_chinese_error_and_nothing_is_kept(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        from tests.support.signin import mint, sign_in

        learner_id, _ = _learner(client, auth)
        browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        csrf = sign_in(browser, mint(ctx, Role.learner, learner_id), "/applications")
        form = browser.get("/applications")
        assert form.status_code == 200 and "申请认定" in form.text
        refused = browser.post(
            "/applications",
            data={**claim(title="焊工培训"), "csrf": csrf},
            files=[("files", ("证书.pdf", b"%PDF-1.4 not really", "application/pdf"))],
        )
        assert refused.status_code == 422, refused.text
        assert "无法作为 application/pdf 读取" in refused.text and "焊工培训" in refused.text
        _nothing_kept(db, learner_id)
        done = browser.post(
            "/applications",
            data={**claim(title="焊工培训"), "csrf": csrf},
            files=[("files", ("证书.pdf", pdf_bytes(), "application/pdf"))],
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        listed = browser.get(done.headers["location"]).text
        assert "焊工培训" in listed and "区级分中心初审中" in listed

    def test_a_form_error_in_english_reads_as_english_does(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        """The application form says a domain error as every other form does (one ``said``): its
        title and detail joined by the reader's own colon, not a Chinese one in an English page."""
        from tests.support.signin import mint, sign_in

        learner_id, _ = _learner(client, auth)
        browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        browser.get("/?lang=en")
        csrf = sign_in(browser, mint(ctx, Role.learner, learner_id), "/applications")
        refused = browser.post(
            "/applications",
            data={**claim(title="Welding"), "csrf": csrf},
            files=[("files", ("cert.pdf", b"%PDF-1.4 not really", "application/pdf"))],
        )
        assert refused.status_code == 422, refused.text
        assert '<html lang="en">' in refused.text
        alert = re.search(r'role="alert"[^>]*>(.*?)</', refused.text, re.S)
        assert alert, refused.text
        said = html.unescape(alert.group(1)).strip()
        assert "：" not in said and ": " in said, said
        _nothing_kept(db, learner_id)
