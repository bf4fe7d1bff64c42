"""What outside tools need from an issued certificate: it validates against 1EdTech's OB 3.0 and
CLR 2.0 JSON Schemas (draft 2019-09, Python ``jsonschema``), it expands in JSON-LD safe mode, its
credit-transfer context resolves on the service itself, and certificates issued in the earlier
format (eddsa-jcs-2022, the placeholder context URL, a status array) still verify."""

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft201909Validator

from creditbank.credentials import issuance, keys, service
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.contexts import (
    CREDIT_TRANSFER_CONTEXT,
    LEGACY_CREDIT_TRANSFER_CONTEXT,
    is_credit_transfer_context,
    load_context,
    safe_expand,
)
from tests.credentials.conftest import World
from tests.credentials.vectors import OPENBADGES_SCHEMAS

BASE = "http://testserver"


def _validator(name: str) -> Draft201909Validator:
    schema = json.loads((OPENBADGES_SCHEMAS / name).read_text("utf-8"))
    return Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)


OB = "purl_ob_v3p0_achievementcredential_schema.json"
CLR = "purl_clr_v2p0_clrcredential_schema.json"


def _errors(name: str, credential: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(name).iter_errors(credential)
    ]


class TestSchemas:
    def test_lot_certificate_is_an_ob30_achievement_credential(self, world: World) -> None:
        assert _errors(OB, world.issue().credential) == []

    def test_clr_bundle_is_a_clr20_credential_and_its_parts_ob30(self, world: World) -> None:
        second = world.lot(credits="0.5")
        bundle = world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, second]))
        assert _errors(CLR, bundle.credential) == []
        for part in bundle.credential["credentialSubject"]["verifiableCredential"]:
            assert _errors(OB, part) == []

    def test_a_status_array_fails_the_schema(self, world: World) -> None:
        # the shape issued before: the schema requires one object
        credential = world.issue().credential
        credential["credentialStatus"] = [credential["credentialStatus"]]
        assert any("credentialStatus" in e for e in _errors(OB, credential))


class TestContexts:
    def test_every_term_is_defined(self, world: World) -> None:
        credential = world.issue().credential
        assert f"{BASE}/contexts/credit-transfer/v1" in credential["@context"]
        safe_expand(credential)  # raises on a dropped value or a relative IRI

    def test_the_context_resolves_on_the_service(self, client: TestClient) -> None:
        response = client.get("/contexts/credit-transfer/v1")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/ld+json")
        assert response.json() == load_context(CREDIT_TRANSFER_CONTEXT)

    def test_the_placeholder_host_is_only_the_legacy_name(self) -> None:
        assert is_credit_transfer_context(LEGACY_CREDIT_TRANSFER_CONTEXT)
        assert is_credit_transfer_context("https://bank.example/prefix/contexts/credit-transfer/v1")
        assert not is_credit_transfer_context("https://bank.example/contexts/credit-transfer/v2")
        assert not is_credit_transfer_context("https://bank.example/contexts/credit-transfer/v1?x=1")


class TestEarlierFormat:
    @pytest.mark.parametrize("statuses", ["object", "array"])
    def test_a_jcs_certificate_of_the_earlier_format_still_verifies(
        self, world: World, statuses: str
    ) -> None:
        credential = world.issue().credential
        world.publish()
        old = copy.deepcopy({k: v for k, v in credential.items() if k != "proof"})
        old["@context"] = [
            LEGACY_CREDIT_TRANSFER_CONTEXT if is_credit_transfer_context(c) else c for c in old["@context"]
        ]
        if statuses == "array":
            old["credentialStatus"] = [old["credentialStatus"]]
        signer = world.run(
            lambda s: keys.signer_for(s, world.ctx.secrets.master_key, BASE, world.institution_id)
        )
        signed = dataintegrity.sign(
            old,
            signer.seed,
            signer.verification_method,
            credential["proof"]["created"],
            cryptosuite=dataintegrity.CRYPTOSUITE_JCS,
        )
        assert signed["proof"]["@context"][-1] == LEGACY_CREDIT_TRANSFER_CONTEXT
        report = world.run(lambda s: service.verify(s, world.ctx, signed))
        assert report.valid, report.to_json()
        assert report.check("proof").detail.startswith("eddsa-jcs-2022 signature by")
