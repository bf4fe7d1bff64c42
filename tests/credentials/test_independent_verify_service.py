"""The independent eddsa-jcs-2022 verifier (written from the spec, none of the project's verification
code) also accepts certificates, bundles and status lists issued by the running service, with the key
taken from the institution's published DID document."""

import copy
from typing import Any

from fastapi.testclient import TestClient

from creditbank.credentials import issuance
from tests.credentials.conftest import World
from tests.credentials.test_independent_verify import independent_verify


def _published_key(client: TestClient, credential: dict[str, Any]) -> str:
    method_id = credential["proof"]["verificationMethod"]
    issuer = credential["issuer"]["id"] if isinstance(credential["issuer"], dict) else credential["issuer"]
    assert method_id.startswith(issuer + "#")
    path = "/" + "/".join(issuer.split(":")[3:]) + "/did.json"
    document = client.get(path).json()
    assert method_id in document["assertionMethod"]
    [method] = [m for m in document["verificationMethod"] if m["id"] == method_id]
    key: str = method["publicKeyMultibase"]
    return key


class TestIndependentVerifierOnServiceCertificates:
    def test_lot_certificate(self, world: World, client: TestClient) -> None:
        credential = world.issue().credential
        key = _published_key(client, credential)
        assert independent_verify(credential, key)
        tampered = copy.deepcopy(credential)
        tampered["credentialSubject"]["creditTransfer"]["lotIds"] = ["lot_someoneelse"]
        assert not independent_verify(tampered, key)

    def test_bundle_and_parts(self, world: World, client: TestClient) -> None:
        second = world.lot(credits="0.5")
        bundle = world.run(lambda s: issuance.issue_clr_bundle(s, world.ctx, lot_ids=[world.lot_id, second]))
        key = _published_key(client, bundle.credential)
        assert independent_verify(bundle.credential, key)
        for part in bundle.credential["credentialSubject"]["verifiableCredential"]:
            assert independent_verify(part, key)

    def test_status_list_credential(self, world: World, client: TestClient) -> None:
        credential = world.issue().credential
        url = credential["credentialStatus"]["statusListCredential"].removeprefix("http://testserver")
        status_list = client.get(url).json()
        assert independent_verify(status_list, _published_key(client, status_list))
