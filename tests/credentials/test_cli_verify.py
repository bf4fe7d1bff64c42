"""``creditbank verify``: offline from files, online through a base URL, --json output and exit codes."""

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import creditbank.credentials.cli as verify_cli
from creditbank.auth.models import Role
from creditbank.cli import app
from tests.conftest import Tokens
from tests.credentials.conftest import World

runner = CliRunner()
NAMES = ["proof", "key", "issuer", "status", "validity", "ledger"]


class Files:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, value: Any) -> str:
        path = self.root / name
        path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        return str(path)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


@pytest.fixture
def issued(world: World, client: TestClient) -> tuple[dict[str, Any], dict[str, Any], str]:
    result = world.issue()
    world.publish()
    bundle = client.get(f"/api/v1/certificates/{result.certificate.id}/evidence").json()
    return result.credential, bundle, result.certificate.id


@pytest.fixture
def trust(client: TestClient, files: Files) -> str:
    """The trust file the auditor saved once from the service (``GET /trust.json``)."""
    response = client.get("/trust.json")
    assert response.status_code == 200, response.text
    return files.write("trust.json", response.json())


def _verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["verify", *args])
    return result.exit_code, result.output


class TestOffline:
    def test_json_output_and_exit_zero(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> None:
        credential, bundle, _ = issued
        code, output = _verify(
            files.write("cert.json", credential),
            "--ledger-evidence",
            files.write("ev.json", bundle),
            "--trust",
            trust,
            "--json",
        )
        assert code == 0, output
        report = json.loads(output)
        assert set(report) == {"valid", "checks"}
        assert report["valid"] is True
        assert [c["name"] for c in report["checks"]] == NAMES
        assert all(set(c) == {"name", "ok", "detail"} and c["ok"] is True for c in report["checks"])

    def test_separate_files(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, world: World, trust: str
    ) -> None:
        credential, bundle, _ = issued
        args = [files.write("cert.json", credential)]
        for i, document in enumerate(bundle["didDocuments"]):
            args += ["--did-document", files.write(f"did{i}.json", document)]
        for i, status_list in enumerate(bundle["statusLists"]):
            args += ["--status-list", files.write(f"sl{i}.json", status_list)]
        args += ["--ledger-evidence", files.write("ledger.json", bundle["ledger"][0])]
        code, output = _verify(*args, "--learner-id", world.learner_id, "--trust", trust)
        assert code == 1, output
        # a --did-document is a claim: no signed register and no trusted document, no key
        assert "NOT VALID: proof, key, issuer, status failed" in output
        trusted = files.write("trusted.json", bundle["didDocuments"][0])
        code, output = _verify(*args, "--learner-id", world.learner_id, "--trust-did-document", trusted)
        assert code == 1, output
        assert "NOT VALID: ledger failed" in output, "no pinned log key"
        log_key = json.loads(Path(trust).read_text(encoding="utf-8"))["logs"][0]["verifierKey"]
        code, output = _verify(
            *args, "--learner-id", world.learner_id, "--trust-did-document", trusted, "--log-key", log_key
        )
        assert code == 0, output
        assert "PASS  learner" in output
        assert output.strip().endswith("valid")

    def test_tampered_certificate_exits_one(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> None:
        credential, bundle, _ = issued
        tampered = copy.deepcopy(credential)
        tampered["credentialSubject"]["creditsEarned"] = 30
        code, output = _verify(
            files.write("c.json", tampered),
            "--ledger-evidence",
            files.write("e.json", bundle),
            "--trust",
            trust,
            "--json",
        )
        assert code == 1
        report = json.loads(output)
        assert report["valid"] is False
        assert [c["name"] for c in report["checks"] if not c["ok"]] == ["proof", "ledger"]

    def test_expired_at_a_later_time(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> None:
        credential, bundle, _ = issued
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        code, output = _verify(
            files.write("c.json", credential),
            "--ledger-evidence",
            files.write("e.json", bundle),
            "--trust",
            trust,
            "--at",
            later,
        )
        assert code == 0, output  # the lot does not expire: no validUntil; the list is good for 24 h
        assert "list signed 3" in output  # its age, in seconds (about an hour)
        much_later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
        code, output = _verify(
            files.write("c.json", credential),
            "--ledger-evidence",
            files.write("e.json", bundle),
            "--trust",
            trust,
            "--at",
            much_later,
        )
        assert code == 1
        assert "FAIL  status" in output and "expired at" in output

    def test_max_status_age_is_stricter(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> None:
        credential, bundle, _ = issued
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        args = [
            files.write("c.json", credential),
            "--ledger-evidence",
            files.write("e.json", bundle),
            "--trust",
            trust,
            "--at",
            later,
        ]
        assert "PASS  status" in _verify(*args, "--max-status-age", "3600")[1]
        code, output = _verify(*args, "--max-status-age", "600")
        assert code == 1
        assert "FAIL  status" in output and "more than the 600 s allowed" in output

    def test_missing_status_list_fails_closed(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> None:
        credential, bundle, _ = issued
        code, output = _verify(
            files.write("c.json", credential),
            "--ledger-evidence",
            files.write("e.json", {**bundle, "statusLists": []}),
            "--trust",
            trust,
            "--json",
        )
        assert code == 1
        status = next(c for c in json.loads(output)["checks"] if c["name"] == "status")
        assert status["ok"] is False
        assert "fail closed" in status["detail"]

    def test_unreadable_inputs_exit_two(self, files: Files, tmp_path: Path) -> None:
        assert _verify(str(tmp_path / "missing.json"))[0] == 2
        broken = tmp_path / "broken.json"
        broken.write_text("{not json", encoding="utf-8")
        assert _verify(str(broken))[0] == 2
        cert = files.write("c.json", {})
        assert _verify(cert, "--did-document", str(broken))[0] == 2
        assert _verify(cert, "--status-list", files.write("n.json", [1, 2]))[0] == 2
        assert _verify(cert, "--ledger-evidence", files.write("x.json", {"type": "Other"}))[0] == 2

    def test_not_a_certificate_exits_one(self, files: Files) -> None:
        code, output = _verify(files.write("c.json", ["not", "an", "object"]), "--json")
        assert code == 1
        assert json.loads(output)["valid"] is False


class TestTheReportInTheEnvironmentsLanguage:
    """Each check's line says what was established, or why not, in the command line's language
    (``LANG``/``LC_ALL``, or ``CREDITBANK_LANG``); the check's own name stays for scripts."""

    def _tampered(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> list[str]:
        credential, bundle, _ = issued
        tampered = copy.deepcopy(credential)
        tampered["credentialSubject"]["creditsEarned"] = 30
        return [
            files.write("c.json", tampered),
            "--ledger-evidence",
            files.write("e.json", bundle),
            "--trust",
            trust,
        ]

    def _lines(self, args: list[str], env: dict[str, str]) -> dict[str, str]:
        result = runner.invoke(app, ["verify", *args], env=env)
        assert result.exit_code == 1, result.output
        found: dict[str, str] = {}
        for line in result.output.splitlines():
            named = re.match(r"^\S+\s+(?:[^\s（]*（([a-z]+)）|([a-z]+)\s)", line)
            if named:
                found.setdefault(named.group(1) or named.group(2), line)
        return found

    def test_in_chinese_under_a_chinese_locale(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> None:
        lines = self._lines(
            self._tampered(issued, files, trust), {"CREDITBANK_LANG": "", "LC_ALL": "zh_CN.UTF-8"}
        )
        assert set(lines) == set(NAMES), lines
        assert "证书声称 30 学分" in lines["ledger"] and "the certificate claims" not in lines["ledger"]
        assert "签名验证通过" not in lines["proof"] and "签名" in lines["proof"]
        assert re.search(r"有效期自 \d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC 至 无截止", lines["validity"])
        assert re.search(r"核验时间 \d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC", lines["validity"])
        assert "未置位" in lines["status"] and "列表签于" in lines["status"]

    def test_in_english_otherwise(
        self, issued: tuple[dict[str, Any], dict[str, Any], str], files: Files, trust: str
    ) -> None:
        for env in ({"CREDITBANK_LANG": "", "LC_ALL": "", "LANG": "en_US.UTF-8"}, {"CREDITBANK_LANG": "en"}):
            lines = self._lines(self._tampered(issued, files, trust), env)
            assert "the certificate claims 30 credits" in lines["ledger"], lines
            assert re.search(
                r"valid from \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC until no end", lines["validity"]
            )
            assert not re.search(r"[\u4e00-\u9fff]", lines["validity"] + lines["ledger"] + lines["status"])


class TestOnline:
    @pytest.fixture
    def through_test_client(self, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
        def make(url: str) -> httpx.Client:
            assert url == "http://testserver"
            return TestClient(client.app, raise_server_exceptions=False)  # the CLI closes it

        monkeypatch.setattr(verify_cli, "_http_client", make)
        return client

    def test_online(
        self,
        issued: tuple[dict[str, Any], dict[str, Any], str],
        files: Files,
        through_test_client: TestClient,
        auth: Tokens,
        world: World,
    ) -> None:
        credential, _, certificate_id = issued
        cert = files.write("c.json", credential)
        code, output = _verify(cert, "--url", "http://testserver")
        assert code == 0, output
        for name in NAMES:
            assert f"PASS  {name}" in output
        through_test_client.post(
            f"/api/v1/certificates/{certificate_id}/revoke",
            headers={**auth(Role.institution, world.institution_id), "Idempotency-Key": "revoke"},
        )
        code, output = _verify(cert, "--url", "http://testserver", "--json")
        assert code == 1
        assert [c["name"] for c in json.loads(output)["checks"] if not c["ok"]] == ["status"]
