"""Who may call what: the authorisation matrix, read from the app's own OpenAPI schema.

Every operation carries ``x-roles`` (its declared callers, or ``["public"]``). The matrix test
calls every path and method of the schema with no token and with a token of every role, so an
endpoint added later is checked without editing this file. Path parameters are filled with ids of
objects the calling subject owns where the parameter name is known (``PATH_VALUES``), otherwise
with a dummy id; the ownership rules themselves are tested separately below.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.deps import Public
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.errors import Unauthenticated
from creditbank.main import create_app
from tests.catalog.scenario import build as build_exchange
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner, grant, identity_number
from tests.support.signin import mint, signin

PROBLEM = "application/problem+json"
DUMMY_ID = "zz_matrix_dummy"
METHODS = {"get", "post", "put", "patch", "delete"}


@dataclass
class World:
    """Real objects for the tokens' subjects, so ownership checks do not mask role checks."""

    institution_id: str
    learner_id: str
    headers: dict[str, dict[str, str]]  # "anonymous" and each role value -> request headers

    @property
    def path_values(self) -> dict[str, str]:
        # parameter name -> value; extend when an endpoint names its own objects in its path
        return {"institution_id": self.institution_id, "learner_id": self.learner_id}


@pytest.fixture
def world(client: TestClient, auth: Tokens) -> World:
    admin = auth(Role.admin)
    institution_id = create_institution(client, admin)
    institution = auth(Role.institution, institution_id)
    learner_id = create_learner(client, institution)
    grant(client, auth, learner_id, institution_id)  # so the institution's role, not the grant, is checked
    headers = {
        "anonymous": {},
        Role.admin.value: admin,
        Role.reviewer.value: auth(Role.reviewer),
        Role.institution.value: institution,
        Role.learner.value: auth(Role.learner, learner_id),
        Role.auditor.value: auth(Role.auditor),
    }
    return World(institution_id=institution_id, learner_id=learner_id, headers=headers)


def _dummy(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if kind in {"integer", "number"}:
        return str(schema.get("minimum", 0))
    if kind == "boolean":
        return "false"
    if "enum" in schema:
        return str(schema["enum"][0])
    return DUMMY_ID


def _operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _request_parts(
    path: str, operation: dict[str, Any], values: dict[str, str]
) -> tuple[str, dict[str, str], dict[str, str]]:
    url, query, headers = path, {}, {}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        value = values.get(name) or _dummy(parameter.get("schema", {}))
        if where == "path":
            url = url.replace("{" + name + "}", value)
        elif where == "query" and parameter.get("required"):
            query[name] = value
        elif where == "header" and parameter.get("required"):
            headers[name] = value
    return url, query, headers


def matrix_problems(
    client: TestClient, openapi: dict[str, Any], world: World, only: set[str] | None = None
) -> list[str]:
    """Call every operation (of the paths in ``only``, if given) as everyone; return every breach."""
    problems: list[str] = []
    for path, method, operation in _operations(openapi):
        if only is not None and path not in only:
            continue
        label = f"{method.upper()} {path}"
        roles = operation.get("x-roles")
        if not isinstance(roles, list) or not roles:
            problems.append(f"{label}: declares no callers (x-roles missing or empty)")
            continue
        url, query, extra_headers = _request_parts(path, operation, world.path_values)
        for caller, headers in world.headers.items():
            response = client.request(method, url, params=query, headers={**extra_headers, **headers})
            status = response.status_code
            seen = f"{label} as {caller}: {status} {response.text[:200]}"
            if roles == ["public"]:
                if status in (401, 403):
                    problems.append(f"public operation refused the caller: {seen}")
            elif caller == "anonymous":
                problem_type = (
                    response.json().get("type", "")
                    if PROBLEM in response.headers.get("content-type", "")
                    else ""
                )
                if status != 401 or not problem_type.endswith("/unauthenticated"):
                    problems.append(f"expected a 401 problem without a token: {seen}")
            elif caller in roles:
                if status in (401, 403):
                    problems.append(f"declared caller refused: {seen}")
            elif status != 403 or PROBLEM not in response.headers.get("content-type", ""):
                problems.append(f"undeclared role not refused with a 403 problem: {seen}")
    return problems


class TestAuthorisationMatrix:
    def test_every_operation_honours_its_declared_roles(self, client: TestClient, world: World) -> None:
        openapi = client.app.openapi()  # type: ignore[attr-defined]
        operations = list(_operations(openapi))
        assert len(operations) >= 12, "the schema lost its operations"
        guarded = [op for _, _, op in operations if op.get("x-roles") != ["public"]]
        assert guarded, "no guarded operations: the matrix would check nothing"
        problems = matrix_problems(client, openapi, world)
        assert problems == [], "\n".join(problems)

    def test_every_role_has_a_token(self, world: World) -> None:
        assert set(world.headers) == {"anonymous", *(r.value for r in Role)}


def _extended_app(ctx: AppContext, add: Callable[[FastAPI], None]) -> FastAPI:
    app = create_app(ctx=ctx)
    add(app)
    return app


class TestMatrixCatchesBreaches:
    """The matrix itself must fail on an undeclared endpoint or a declaration the endpoint breaks."""

    def test_undeclared_endpoint_is_reported(self, ctx: AppContext, world: World) -> None:
        def add(app: FastAPI) -> None:
            @app.get("/api/v1/forgotten-guard")
            def forgotten() -> dict[str, str]:
                return {"secret": "everyone can read this"}

        with TestClient(_extended_app(ctx, add), raise_server_exceptions=False) as client:
            openapi = client.app.openapi()  # type: ignore[attr-defined]
            problems = matrix_problems(client, openapi, world, only={"/api/v1/forgotten-guard"})
        assert problems == ["GET /api/v1/forgotten-guard: declares no callers (x-roles missing or empty)"]

    def test_public_endpoint_demanding_a_token_is_reported(self, ctx: AppContext, world: World) -> None:
        def add(app: FastAPI) -> None:
            @app.get("/api/v1/not-so-public", dependencies=[Public])
            def not_so_public() -> dict[str, str]:
                raise Unauthenticated("surprise")

        with TestClient(_extended_app(ctx, add), raise_server_exceptions=False) as client:
            openapi = client.app.openapi()  # type: ignore[attr-defined]
            problems = matrix_problems(client, openapi, world, only={"/api/v1/not-so-public"})
        assert len(problems) == len(world.headers)
        assert all(
            p.startswith("public operation refused the caller: GET /api/v1/not-so-public") for p in problems
        )


class TestLearnerPrivacy:
    def test_learner_reads_only_themselves(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        me = create_learner(client, admin, name="李雷")
        other = create_learner(client, admin, name="韩梅梅")
        mine = auth(Role.learner, me)

        own = client.get(f"/api/v1/learners/{me}", headers=mine)
        assert own.status_code == 200, own.text
        assert own.json()["name"] == "李雷"

        for target in (other, "lrn_doesnotexist0000000000"):
            response = client.get(f"/api/v1/learners/{target}", headers=mine)
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["type"].endswith("/forbidden")
            assert "韩梅梅" not in response.text

    def test_institution_reads_only_under_the_learners_grant(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        admin = auth(Role.admin)
        registrar_id = create_institution(client, admin)
        stranger_id = create_institution(client, admin)
        registrar = auth(Role.institution, registrar_id)
        stranger = auth(Role.institution, stranger_id)
        learner_id = create_learner(client, registrar, name="张伟", number=identity_number())

        links = db.execute(
            text("SELECT institution_id FROM learner_links WHERE learner_id = :l"), {"l": learner_id}
        ).scalars()
        assert list(links) == [registrar_id]

        for headers in (registrar, stranger):  # registering the person gives no read access
            refused = client.get(f"/api/v1/learners/{learner_id}", headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["type"].endswith("/grant-required")
            assert "张伟" not in refused.text

        grant(client, auth, learner_id, registrar_id)
        own = client.get(f"/api/v1/learners/{learner_id}", headers=registrar)
        assert own.status_code == 200, own.text
        assert own.json()["name"] == "张伟"
        assert client.get(f"/api/v1/learners/{learner_id}", headers=stranger).status_code == 403

    def test_reads_by_others_are_logged_and_own_reads_are_not(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        admin = auth(Role.admin)
        institution_id = create_institution(client, admin)
        institution = auth(Role.institution, institution_id)
        learner_id = create_learner(client, institution)

        def log_rows() -> list[tuple[str, str | None, str]]:
            rows = db.execute(
                text(
                    "SELECT reader_role, reader_subject, what FROM archive_access_log "
                    "WHERE learner_id = :l ORDER BY id"
                ),
                {"l": learner_id},
            )
            return [(r.reader_role, r.reader_subject, r.what) for r in rows]

        assert log_rows() == []
        assert client.get(f"/api/v1/learners/{learner_id}", headers=admin).status_code == 200
        assert log_rows() == [("admin", None, "profile")]
        grant_id = grant(client, auth, learner_id, institution_id)
        assert client.get(f"/api/v1/learners/{learner_id}", headers=institution).status_code == 200
        assert log_rows()[-1] == ("institution", institution_id, f"profile (grant {grant_id})")
        own = auth(Role.learner, learner_id)
        assert client.get(f"/api/v1/learners/{learner_id}", headers=own).status_code == 200
        assert len(log_rows()) == 2, "a learner reading their own record is not an access by someone else"

    def test_refused_read_is_not_logged_as_access(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        admin = auth(Role.admin)
        learner_id = create_learner(client, admin)
        stranger = auth(Role.institution, create_institution(client, admin))
        assert client.get(f"/api/v1/learners/{learner_id}", headers=stranger).status_code == 403
        count = db.execute(
            text("SELECT count(*) FROM archive_access_log WHERE learner_id = :l"), {"l": learner_id}
        ).scalar_one()
        assert count == 0


class TestTokens:
    def test_admin_creates_lists_and_revokes(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        account = client.post("/api/v1/reviewers", json={"name": "赵审核"}, headers=admin).json()["id"]
        created = client.post(
            "/api/v1/tokens",
            json={"role": "reviewer", "subject": account, "label": "district sub-centre"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["token"].startswith("cbt_")
        assert body["role"] == "reviewer"
        assert body["revoked_at"] is None

        listed = client.get("/api/v1/tokens", headers=admin)
        assert listed.status_code == 200
        entry = next(t for t in listed.json() if t["id"] == body["id"])
        assert entry["label"] == "district sub-centre"
        assert body["token"] not in listed.text, "a token is shown once, never listed"
        assert all("token" not in t and "token_hash" not in t for t in listed.json())

        revoked = client.delete(f"/api/v1/tokens/{body['id']}", headers=admin)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None
        again = client.delete(f"/api/v1/tokens/{body['id']}", headers=admin)
        assert again.status_code == 200
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]

    def test_revoked_token_gets_401(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        minted = client.post("/api/v1/tokens", json={"role": "admin"}, headers=admin).json()
        bearer = {"Authorization": f"Bearer {minted['token']}"}
        assert client.get("/api/v1/tokens", headers=bearer).status_code == 200

        assert client.delete(f"/api/v1/tokens/{minted['id']}", headers=admin).status_code == 200
        refused = client.get("/api/v1/tokens", headers=bearer)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == PROBLEM
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["type"].endswith("/unauthenticated")

    def test_unknown_and_malformed_tokens_get_401(self, client: TestClient) -> None:
        for token in ("cbt_" + "A" * 43, "not-a-creditbank-token", "cbt_" + "x" * 300):
            response = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, token

    def test_subject_required_for_institution_and_learner_tokens(
        self, client: TestClient, auth: Tokens
    ) -> None:
        admin = auth(Role.admin)
        for role in ("institution", "learner"):
            response = client.post("/api/v1/tokens", json={"role": role}, headers=admin)
            assert response.status_code == 422, response.text
            assert response.json()["type"].endswith("/token-subject-required")

    def test_revoking_unknown_token_is_404(self, client: TestClient, auth: Tokens) -> None:
        response = client.delete("/api/v1/tokens/tok_nosuchtoken", headers=auth(Role.admin))
        assert response.status_code == 404
        assert response.json()["type"].endswith("/token-not-found")

    def test_minted_institution_token_acts_for_its_subject(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        institution_id = create_institution(client, admin)
        minted = client.post(
            "/api/v1/tokens", json={"role": "institution", "subject": institution_id}, headers=admin
        ).json()
        assert minted["subject"] == institution_id
        bearer = {"Authorization": f"Bearer {minted['token']}"}
        learner_id = create_learner(client, bearer)
        assert client.get(f"/api/v1/learners/{learner_id}", headers=bearer).status_code == 403
        grant(client, auth, learner_id, institution_id)
        assert client.get(f"/api/v1/learners/{learner_id}", headers=bearer).status_code == 200
        assert client.get("/api/v1/tokens", headers=bearer).status_code == 403


class TestExchangeBetweenTenants:
    """Institution A against institution B's transfers, certificates and conversions; learner A
    against learner B's consents. Each case names the caller, the call and the expected answer."""

    def test_cross_tenant_exchange_cases(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        s = build_exchange(client, auth, ctx)
        transfer = s.post(
            "/api/v1/transfers",
            {"lot_ids": s.lots[:1], "destination_institution_id": s.dest, "programme_id": s.programme},
            s.learner_headers,
            "matrix-transfer",
        ).json()
        [cid] = transfer["certificate_ids"]
        issued = s.post("/api/v1/certificates", {"lot_ids": s.lots[1:]}, s.source_headers, "matrix-cert")
        undirected = issued.json()["credential"]
        consent = s.post(
            "/api/v1/consents",
            {"destination_institution_id": s.dest, "lot_ids": s.lots[1:]},
            s.learner_headers,
            "matrix-consent",
        ).json()
        other_learner = auth(Role.learner, create_learner(client, s.source_headers))
        steal = {"programme_id": s.other_programme, "certificates": transfer["certificates"]}
        unconsented = {"programme_id": s.other_programme, "certificates": [undirected]}
        cases: list[tuple[str, dict[str, str], str, str, Any, int, str | None]] = [
            # (who, headers, method, path, body, status, problem slug)
            (
                "other school",
                s.other_headers,
                "GET",
                f"/api/v1/transfers/{transfer['id']}",
                None,
                404,
                "transfer-not-found",
            ),
            (
                "other school",
                s.other_headers,
                "POST",
                f"/api/v1/transfers/{transfer['id']}/accept",
                {},
                403,
                "not-the-destination",
            ),
            (
                "other school",
                s.other_headers,
                "POST",
                f"/api/v1/transfers/{transfer['id']}/reject",
                {"reason": "mine now"},
                403,
                "not-the-destination",
            ),
            (
                "other school",
                s.other_headers,
                "POST",
                "/api/v1/conversions",
                steal,
                403,
                "not-the-destination",
            ),
            (
                "other school",
                s.other_headers,
                "POST",
                "/api/v1/conversions",
                unconsented,
                403,
                "consent-required",
            ),
            ("other school", s.other_headers, "GET", f"/api/v1/certificates/{cid}", None, 403, "forbidden"),
            (
                "other school",
                s.other_headers,
                "GET",
                f"/api/v1/learners/{s.learner}/certificates",
                None,
                403,
                "grant-required",
            ),
            (
                "other school",
                s.other_headers,
                "POST",
                f"/api/v1/certificates/{cid}/revoke",
                {},
                403,
                "forbidden",
            ),
            (
                "source school",
                s.source_headers,
                "POST",
                f"/api/v1/transfers/{transfer['id']}/accept",
                {},
                403,
                "not-the-destination",
            ),
            (
                "destination",
                s.dest_headers,
                "POST",
                "/api/v1/consents",
                {"destination_institution_id": s.dest, "lot_ids": s.lots},
                403,
                "forbidden",
            ),
            (
                "other learner",
                other_learner,
                "GET",
                f"/api/v1/transfers/{transfer['id']}",
                None,
                404,
                "transfer-not-found",
            ),
            ("other learner", other_learner, "GET", f"/api/v1/certificates/{cid}", None, 403, "forbidden"),
            (
                "other learner",
                other_learner,
                "POST",
                f"/api/v1/consents/{consent['id']}/revoke",
                {},
                404,
                "consent-not-found",
            ),
            (
                "other learner",
                other_learner,
                "POST",
                "/api/v1/consents",
                {"destination_institution_id": s.other, "lot_ids": s.lots},
                404,
                "lot-not-found",
            ),
            (
                "other learner",
                other_learner,
                "POST",
                "/api/v1/transfers",
                {
                    "learner_id": s.learner,
                    "lot_ids": s.lots,
                    "destination_institution_id": s.other,
                    "programme_id": s.other_programme,
                },
                403,
                "forbidden",
            ),
        ]
        breaches: list[str] = []
        for n, (who, headers, method, path, body, status, slug) in enumerate(cases):
            response = client.request(
                method, path, json=body, headers={**headers, "Idempotency-Key": f"matrix-case-{n}"}
            )
            got = response.json().get("type", "").rsplit("/", 1)[-1] if response.status_code >= 400 else None
            if response.status_code != status or got != slug:
                breaches.append(
                    f"{who} {method} {path}: {response.status_code} {got}, expected {status} {slug}"
                )
        assert breaches == [], "\n".join(breaches)
        # the other learner sees none of the learner's consents; the learner's is untouched
        assert client.get("/api/v1/consents", headers=other_learner).json() == []
        [mine] = [
            c
            for c in client.get("/api/v1/consents", headers=s.learner_headers).json()
            if c["id"] == consent["id"]
        ]
        assert mine["state"] == "active"
        # what the other school could not take, the destination still converts
        accepted = s.post(f"/api/v1/transfers/{transfer['id']}/accept", {}, s.dest_headers, "matrix-accept")
        assert accepted.status_code == 200, accepted.text


@dataclass(frozen=True)
class Case:
    """One cross-tenant call and what it must answer."""

    label: str
    caller: str  # a key of the callers' headers
    method: str
    path: str
    status: int
    slug: str | None = None  # the problem type's slug, for refusals
    body: Any = None


def _check(client: TestClient, callers: dict[str, dict[str, str]], cases: list[Case]) -> list[str]:
    """Run every case; return every case that answered otherwise (all are run, none stops the rest)."""
    wrong: list[str] = []
    for case in cases:
        headers = {**callers[case.caller], "Idempotency-Key": f"matrix-{case.label}"}
        response = client.request(case.method, case.path, json=case.body, headers=headers)
        answer = f"{response.status_code} {response.text[:160]}"
        seen = f"{case.label}: {case.caller} {case.method} {case.path} -> {answer}"
        if response.status_code != case.status:
            wrong.append(f"expected {case.status}: {seen}")
        elif case.slug is not None and not (
            response.headers.get("content-type") == PROBLEM
            and response.json()["type"].endswith("/" + case.slug)
        ):
            wrong.append(f"expected problem {case.slug}: {seen}")
    return wrong


class TestCrossTenant:
    """Institution A vs B's learners, outcomes, transfers and certificates; learner A vs learner B;
    cookie vs bearer; reviewer tokens of one account. Each case names its expected status."""

    def test_institutions_read_a_learner_only_by_grant_or_pending_transfer(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        from tests.catalog.scenario import build

        s = build(client, auth, ctx)
        posted = client.post(
            "/api/v1/outcomes",
            json={
                "learner_id": s.learner,
                "reference": "MATRIX-1",
                "outcome_type": "training_course",
                "title": "Python 数据分析",
                "achieved_on": "2026-11-01",
                "hours": 32,
            },
            headers={**s.source_headers, "Idempotency-Key": "matrix-outcome"},
        )
        assert posted.status_code == 201, posted.text
        outcome = posted.json()["id"]
        other_learner = create_learner(client, auth(Role.admin))
        callers = {
            "source": s.source_headers,  # registered the learner and posted every outcome
            "dest": s.dest_headers,
            "other": s.other_headers,
            "learner": s.learner_headers,
            "learner-b": auth(Role.learner, other_learner),
            "reviewer": auth(Role.reviewer),
        }
        lrn = f"/api/v1/learners/{s.learner}"
        archive_paths = [lrn, f"{lrn}/archive", f"{lrn}/certificates"]
        before = [
            *(Case(f"registrar-{p}", "source", "GET", p, 403, "grant-required") for p in archive_paths),
            *(Case(f"stranger-{p}", "other", "GET", p, 403, "grant-required") for p in archive_paths),
            Case("own-outcome", "source", "GET", f"/api/v1/outcomes/{outcome}", 200),
            Case("foreign-outcome", "other", "GET", f"/api/v1/outcomes/{outcome}", 404),
            Case("learner-b-archive", "learner-b", "GET", f"{lrn}/archive", 403, "forbidden"),
            Case("learner-b-export", "learner-b", "GET", f"{lrn}/archive/export", 403, "forbidden"),
            Case("learner-b-grants", "learner-b", "GET", f"{lrn}/grants", 403, "forbidden"),
            Case(
                "learner-b-grants-for-a",
                "learner-b",
                "POST",
                f"{lrn}/grants",
                403,
                "forbidden",
                {"institution_id": s.other, "days": 30},
            ),
            Case("institution-grants", "other", "GET", f"{lrn}/grants", 403, "forbidden"),
            Case("own-grants", "learner", "GET", f"{lrn}/grants", 200),
        ]
        assert _check(client, callers, before) == []

        # the learner sends a transfer to dest: dest reads while it is pending, nobody else does
        transfer = s.post(
            "/api/v1/transfers",
            {"lot_ids": s.lots, "destination_institution_id": s.dest, "programme_id": s.programme},
            s.learner_headers,
            "matrix-transfer",
        )
        assert transfer.status_code == 201, transfer.text
        transfer_id = transfer.json()["id"]
        certificate_id = transfer.json()["certificate_ids"][0]
        during = [
            *(Case(f"destination-{p}", "dest", "GET", p, 200) for p in archive_paths),
            *(Case(f"stranger-during-{p}", "other", "GET", p, 403, "grant-required") for p in archive_paths),
            Case("stranger-transfer", "other", "GET", f"/api/v1/transfers/{transfer_id}", 404),
            Case("reviewer-transfer", "reviewer", "GET", f"/api/v1/transfers/{transfer_id}", 404),
            Case("stranger-certificate", "other", "GET", f"/api/v1/certificates/{certificate_id}", 403),
            Case("learner-b-certificate", "learner-b", "GET", f"/api/v1/certificates/{certificate_id}", 403),
            Case(
                "stranger-accepts",
                "other",
                "POST",
                f"/api/v1/transfers/{transfer_id}/accept",
                403,
                "not-the-destination",
            ),
        ]
        assert _check(client, callers, during) == []
        listed = client.get("/api/v1/transfers", headers=callers["reviewer"])
        assert listed.status_code == 200 and listed.json() == [], "a reviewer lists only what it may read"

        rejected = s.post(
            f"/api/v1/transfers/{transfer_id}/reject", {"reason": "专业不符"}, s.dest_headers, "matrix-reject"
        )
        assert rejected.status_code == 200, rejected.text
        after = [
            Case(f"destination-after-{p}", "dest", "GET", p, 403, "grant-required") for p in archive_paths
        ]
        assert _check(client, callers, after) == []

        # a grant opens the archive to one institution until the learner revokes it
        granted = grant(client, auth, s.learner, s.other)
        assert (
            _check(client, callers, [Case(f"granted-{p}", "other", "GET", p, 200) for p in archive_paths])
            == []
        )
        assert (
            _check(client, callers, [Case("still-not-source", "source", "GET", lrn, 403, "grant-required")])
            == []
        )
        revoke_by_b = client.post(f"{lrn}/grants/{granted}/revoke", headers=callers["learner-b"])
        assert revoke_by_b.status_code == 403
        revoked = client.post(
            f"{lrn}/grants/{granted}/revoke", headers={**s.learner_headers, "Idempotency-Key": "revoke-grant"}
        )
        assert revoked.status_code == 200 and revoked.json()["live"] is False
        assert (
            _check(
                client,
                callers,
                [Case(f"revoked-{p}", "other", "GET", p, 403, "grant-required") for p in archive_paths],
            )
            == []
        )

    def test_an_expired_grant_opens_nothing(self, client: TestClient, auth: Tokens, db: Connection) -> None:
        admin = auth(Role.admin)
        institution_id = create_institution(client, admin)
        institution = auth(Role.institution, institution_id)
        learner_id = create_learner(client, institution)
        grant_id = grant(client, auth, learner_id, institution_id, days=1)
        assert client.get(f"/api/v1/learners/{learner_id}", headers=institution).status_code == 200
        db.execute(
            text("UPDATE archive_grants SET expires_at = now() - interval '1 second' WHERE id = :g"),
            {"g": grant_id},
        )
        expired = client.get(f"/api/v1/learners/{learner_id}", headers=institution)
        assert expired.status_code == 403 and expired.json()["type"].endswith("/grant-required")

    def test_the_api_takes_bearer_tokens_not_the_page_session(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        """A cross-site form posted with the institution's session cookie mints no credits."""
        admin = auth(Role.admin)
        institution_id = create_institution(client, admin)
        learner_id = create_learner(client, auth(Role.institution, institution_id))
        token = mint(ctx, Role.institution, institution_id)
        assert signin(client, token).status_code == 303
        assert client.cookies.get("cb_session")
        count = "SELECT count(*) FROM outcomes WHERE learner_id = :l"
        before = db.execute(text(count), {"l": learner_id}).scalar_one()
        body = {
            "learner_id": learner_id,
            "reference": "CSRF-1",
            "outcome_type": "training_course",
            "title": "跨站伪造",
            "achieved_on": "2026-11-01",
            "hours": 96,
        }
        forged = client.post(
            "/api/v1/outcomes",
            json=body,
            headers={"Idempotency-Key": "cross-site", "Origin": "https://evil.example"},
        )
        assert forged.status_code == 401, forged.text
        assert forged.headers["content-type"] == PROBLEM and forged.json()["type"].endswith(
            "/unauthenticated"
        )
        assert db.execute(text(count), {"l": learner_id}).scalar_one() == before
        for path in (f"/api/v1/learners/{learner_id}", "/api/v1/transfers", "/api/v1/tokens"):
            assert client.get(path).status_code == 401, path
        bearer = client.post(
            "/api/v1/outcomes",
            json=body,
            headers={"Idempotency-Key": "bearer", "Authorization": f"Bearer {token}"},
        )
        assert bearer.status_code == 201, bearer.text

    def test_reviewer_tokens_of_one_account_are_one_person(self, client: TestClient, auth: Tokens) -> None:
        from tests.outcomes.factories import Desk, work_experience

        desk = Desk(client, auth)
        outcome_id = desk.posted(work_experience(years=2))["id"]
        account = client.post("/api/v1/reviewers", json={"name": "周审核"}, headers=auth(Role.admin)).json()[
            "id"
        ]
        assert desk.decide(outcome_id, auth(Role.reviewer, account), stage="district").status_code == 200
        second_token = desk.decide(outcome_id, auth(Role.reviewer, account), stage="city")
        assert second_token.status_code == 403 and second_token.json()["type"].endswith("/four-eyes-required")

    def test_a_district_reviewer_reaches_no_other_districts_review(
        self, client: TestClient, auth: Tokens
    ) -> None:
        """The sub-centre scope (the full set of cases: tests/outcomes/test_review_districts.py)."""
        from tests.outcomes.factories import Desk, work_experience

        desk = Desk(client, auth)  # a Haidian institution
        outcome_id = desk.posted(work_experience(years=2))["id"]
        admin = auth(Role.admin)
        account = client.post(
            "/api/v1/reviewers", json={"name": "吴审核", "district": "朝阳区"}, headers=admin
        )
        chaoyang = auth(Role.reviewer, account.json()["id"])
        for response in (
            client.get(f"/api/v1/reviews/{outcome_id}", headers=chaoyang),
            desk.decide(outcome_id, chaoyang, stage="district"),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["type"].endswith("/review-outside-district")
        listed = client.get("/api/v1/reviews", params={"limit": 1000}, headers=chaoyang).json()
        assert outcome_id not in {item["outcome"]["id"] for item in listed}
