from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from tests.conftest import Tokens

VALID = "91310110666007217T"
FAILS_CHECK = "91310110666007217A"


def body(code: str = VALID, **extra: object) -> dict[str, object]:
    return {
        "name_zh": "北京市海淀区职业学校",
        "name_en": "Haidian Vocational School",
        "credit_code": code,
        "kind": "vocational_school",
        "district": "海淀区",
        **extra,
    }


class TestRegisterInstitution:
    def test_admin_registers(self, client: TestClient, auth: Tokens) -> None:
        r = client.post("/api/v1/institutions", json=body(), headers=auth(Role.admin))
        assert r.status_code == 201, r.text
        data = r.json()
        assert data["id"].startswith("ins_")
        assert data["did"] == f"did:web:testserver:institutions:{data['id']}"
        listed = client.get("/api/v1/institutions").json()
        assert [i["credit_code"] for i in listed] == [VALID]

    def test_failing_code_refused_without_exception(self, client: TestClient, auth: Tokens) -> None:
        r = client.post("/api/v1/institutions", json=body(FAILS_CHECK), headers=auth(Role.admin))
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/invalid-credit-code")

    def test_failing_code_accepted_with_recorded_exception(self, client: TestClient, auth: Tokens) -> None:
        reason = "early code issued 2016, confirmed with the registry by phone"
        r = client.post(
            "/api/v1/institutions",
            json=body(FAILS_CHECK, credit_code_exception=reason),
            headers=auth(Role.admin),
        )
        assert r.status_code == 201, r.text
        assert r.json()["credit_code_exception"] == reason

    def test_exception_ignored_for_valid_code(self, client: TestClient, auth: Tokens) -> None:
        r = client.post(
            "/api/v1/institutions",
            json=body(credit_code_exception="not needed here"),
            headers=auth(Role.admin),
        )
        assert r.json()["credit_code_exception"] is None

    def test_duplicate_code_is_409(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        assert client.post("/api/v1/institutions", json=body(), headers=admin).status_code == 201
        r = client.post("/api/v1/institutions", json=body(), headers=admin)
        assert r.status_code == 409
        assert r.json()["type"].endswith("/credit-code-registered")

    def test_bad_kind_is_422(self, client: TestClient, auth: Tokens) -> None:
        r = client.post("/api/v1/institutions", json=body(kind="casino"), headers=auth(Role.admin))
        assert r.status_code == 422
        assert "kind" in r.json()["detail"]

    def test_institution_cannot_register(self, client: TestClient, auth: Tokens) -> None:
        r = client.post("/api/v1/institutions", json=body(), headers=auth(Role.institution, "ins_x"))
        assert r.status_code == 403
