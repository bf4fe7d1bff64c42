"""What ``creditbank verify --url`` fetches: the base it was given, and (only with --resolve-did-web) an
issuer's did:web host over https; never another URL a certificate names, and no error that tells an open
local port from a closed one."""

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import creditbank.credentials.cli as verify_cli
from creditbank.cli import app
from creditbank.credentials import keys
from creditbank.credentials.http_resolver import HttpResolver
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.errors import ResolutionFailed
from creditbank.standards.vc.verification import verify_certificate
from tests.credentials.conftest import World

BASE = "http://testserver"
runner = CliRunner()


class Recording(httpx.Client):
    """Forwards requests for the service to the app; anything else is recorded and answered as a local
    port would: ``open_port`` answers 200, every other host refuses the connection."""

    def __init__(self, client: TestClient, open_port: str = "127.0.0.1:5432") -> None:
        super().__init__()
        self.app_client = client
        self.open_port = open_port
        self.outside: list[str] = []

    def get(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        target = httpx.URL(str(url))
        if target.host == "testserver":
            response: httpx.Response = self.app_client.get(str(url), **kwargs)
            return response
        self.outside.append(str(url))
        if f"{target.host}:{target.port}" == self.open_port:
            return httpx.Response(200, json={"id": str(url)}, request=httpx.Request("GET", target))
        raise httpx.ConnectError("[Errno 111] Connection refused")


def _resign(world: World, document: dict[str, Any]) -> dict[str, Any]:
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    signer = world.run(lambda s: keys.signer_for(s, world.ctx.secrets.master_key, BASE, world.institution_id))
    return dataintegrity.sign(unsigned, signer.seed, signer.verification_method, document["proof"]["created"])


@pytest.fixture
def credential(world: World) -> dict[str, Any]:
    result = world.issue()
    world.publish()
    return result.credential


def _pointing_at(world: World, credential: dict[str, Any], url: str) -> dict[str, Any]:
    changed = copy.deepcopy(credential)
    changed["credentialStatus"]["statusListCredential"] = url
    return _resign(world, changed)


class TestStatusListUrls:
    @pytest.mark.parametrize("resolve_did_web", [False, True])
    def test_urls_outside_the_base_are_never_fetched(
        self, world: World, client: TestClient, credential: dict[str, Any], resolve_did_web: bool
    ) -> None:
        details = []
        for port in ("5432", "5433"):  # one open, one closed
            recording = Recording(client)
            document = _pointing_at(world, credential, f"http://127.0.0.1:{port}/status")
            report = verify_certificate(
                document, HttpResolver(BASE, recording, resolve_did_web=resolve_did_web)
            )
            assert recording.outside == [], "a URL taken from the certificate was fetched"
            assert report.failed == ["status"], report.to_json()
            details.append(report.check("status").detail.replace(port, "PORT"))
        assert details[0] == details[1], "the answer must not depend on whether the port is open"

    def test_https_status_list_on_another_host_needs_that_host_resolved_first(
        self, world: World, client: TestClient, credential: dict[str, Any]
    ) -> None:
        recording = Recording(client)
        document = _pointing_at(world, credential, "https://elsewhere.example/status")
        report = verify_certificate(document, HttpResolver(BASE, recording, resolve_did_web=True))
        assert recording.outside == []
        assert report.failed == ["status"]
        assert "outside http://testserver" in report.check("status").detail


class TestDidWeb:
    def test_foreign_did_web_is_fetched_only_when_allowed_and_only_over_https(
        self, client: TestClient
    ) -> None:
        foreign = "did:web:school.example:issuers:7"
        local = "did:web:127.0.0.1%3A5432:issuers:7"  # resolves over http: never fetched
        recording = Recording(client)
        resolver = HttpResolver(BASE, recording)
        for did in (foreign, local):
            with pytest.raises(ResolutionFailed, match="is not fetched"):
                resolver.did_document(did)
        assert recording.outside == []
        allowed = HttpResolver(BASE, recording, resolve_did_web=True)
        with pytest.raises(ResolutionFailed, match="is not fetched"):
            allowed.did_document(local)
        assert recording.outside == []
        with pytest.raises(ResolutionFailed, match="could not be fetched") as refused:
            allowed.did_document(foreign)
        assert recording.outside == ["https://school.example/issuers/7/did.json"]
        assert "Connection refused" not in str(refused.value) and "ConnectError" not in str(refused.value)


class TestCli:
    def test_verify_url_fetches_nothing_the_certificate_names(
        self,
        world: World,
        client: TestClient,
        credential: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ) -> None:
        recordings: list[Recording] = []

        def make(url: str) -> httpx.Client:
            assert url == BASE
            recordings.append(Recording(client))
            return recordings[-1]

        monkeypatch.setattr(verify_cli, "_http_client", make)
        document = _pointing_at(world, credential, "http://127.0.0.1:5432/status")
        path = tmp_path / "cert.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        for extra in ([], ["--resolve-did-web"]):
            result = runner.invoke(app, ["verify", str(path), "--url", BASE, "--json", *extra])
            assert result.exit_code == 1, result.output
            assert [c["name"] for c in json.loads(result.output)["checks"] if not c["ok"]] == ["status"]
        assert [r.outside for r in recordings] == [[], []]
        path.write_text(json.dumps(credential), encoding="utf-8")
        result = runner.invoke(app, ["verify", str(path), "--url", BASE])
        assert result.exit_code == 0, result.output
