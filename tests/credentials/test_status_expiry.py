"""Status lists expire (issue 14 point 6): every list credential carries a short ``validUntil``, the
service re-signs a list before it lapses, and the verifier reports a list's age and fails ``status``
on an expired list, so a copy fetched before a revocation stops passing. The clock is fixed by
verifying ``now=`` a chosen time and by setting the stored list's times back, never by sleeping."""

import datetime as dt
import json
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.credentials import keys, service, status_service
from creditbank.credentials.models import StatusList
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.resolvers import OfflineResolver
from creditbank.standards.vc.trust import TrustRoots
from creditbank.standards.vc.verification import verify_certificate
from tests.conftest import Tokens
from tests.credentials.conftest import World

BASE = "http://testserver"


def _offline(bundle: dict[str, Any], trust: TrustRoots) -> OfflineResolver:
    resolver = OfflineResolver(trust=trust)
    resolver.add_bundle(bundle)
    return resolver


def _list_url(credential: dict[str, Any]) -> str:
    url: str = credential["credentialStatus"]["statusListCredential"]
    return url.removeprefix(BASE)


class TestListCredential:
    def test_carries_a_24_hour_valid_until(self, world: World, client: TestClient) -> None:
        credential = world.issue().credential
        listed = client.get(_list_url(credential)).json()
        signed = dataintegrity.parse_datetime(listed["validFrom"])
        assert dataintegrity.parse_datetime(listed["validUntil"]) - signed == dt.timedelta(hours=24)
        assert listed["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    def test_lifetime_is_a_setting(self, world: World) -> None:
        world.ctx.settings.status_list_lifetime_seconds = 3600
        try:
            credential = world.issue().credential
            list_id = _list_url(credential).rsplit("/", 1)[-1]
            listed = world.run(lambda s: status_service.list_credential(s, list_id))
        finally:
            world.ctx.settings.status_list_lifetime_seconds = 86_400
        signed = dataintegrity.parse_datetime(listed["validFrom"])
        assert dataintegrity.parse_datetime(listed["validUntil"]) - signed == dt.timedelta(hours=1)

    def test_re_signed_before_it_lapses(self, world: World, client: TestClient) -> None:
        credential = world.issue().credential
        list_id = _list_url(credential).rsplit("/", 1)[-1]
        # the stored list was signed 13 hours ago: past half its life, the next read re-signs it
        stale = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=13)

        def age(session: Any) -> None:
            row = session.get(StatusList, list_id)
            stored = json.loads(row.credential)
            stored["validFrom"] = stale.strftime("%Y-%m-%dT%H:%M:%SZ")
            stored["validUntil"] = (stale + dt.timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
            row.credential = json.dumps(stored)
            session.add(row)

        world.run(age)
        served = client.get(_list_url(credential)).json()
        assert dataintegrity.parse_datetime(served["validFrom"]) > stale + dt.timedelta(hours=12)
        assert dataintegrity.parse_datetime(served["validUntil"]) > dt.datetime.now(dt.UTC) + dt.timedelta(
            hours=23
        )
        # and it is stored: the next read serves the same bytes
        assert client.get(_list_url(credential)).json() == served


class TestVerifier:
    def test_a_bundle_fetched_before_a_revocation_stops_passing_once_its_list_expires(
        self, world: World, client: TestClient, auth: Tokens
    ) -> None:
        issued = world.issue()
        world.publish()
        bundle = client.get(f"/api/v1/certificates/{issued.certificate.id}/evidence").json()
        trust = TrustRoots.from_json(client.get("/trust.json").json())
        [listed] = bundle["statusLists"]
        signed = dataintegrity.parse_datetime(listed["validFrom"])
        revoked = client.post(
            f"/api/v1/certificates/{issued.certificate.id}/revoke",
            json={"reason": "test"},
            headers={**auth(Role.admin), "Idempotency-Key": "revoke-1"},
        )
        assert revoked.status_code == 200, revoked.text
        # online, the revocation shows at once
        now = verify_certificate(issued.credential, _offline(bundle, trust))
        assert now.check("status").ok  # the old copy says "not revoked" ...
        assert "list signed" in now.check("status").detail
        # ... for as long as it is valid (an hour on: still passes, and says how old it is) ...
        hour = verify_certificate(
            issued.credential, _offline(bundle, trust), now=signed + dt.timedelta(hours=1)
        )
        assert hour.check("status").ok
        assert "list signed 3600 s ago" in hour.check("status").detail
        # ... and not once it has expired
        day = verify_certificate(
            issued.credential, _offline(bundle, trust), now=signed + dt.timedelta(hours=24, seconds=1)
        )
        assert not day.check("status").ok
        assert "expired at" in day.check("status").detail
        # a verifier may be stricter than the list's own validUntil
        strict = verify_certificate(
            issued.credential, _offline(bundle, trust), now=signed + dt.timedelta(hours=1), max_status_age=600
        )
        assert not strict.check("status").ok
        assert "more than the 600 s allowed" in strict.check("status").detail

    def test_a_credential_without_status_is_not_revocable_and_passes_status(self, world: World) -> None:
        credential = world.issue().credential
        unsigned = {k: v for k, v in credential.items() if k not in ("proof", "credentialStatus")}
        signer = world.run(
            lambda s: keys.signer_for(s, world.ctx.secrets.master_key, BASE, world.institution_id)
        )
        outside = dataintegrity.sign(
            unsigned, signer.seed, signer.verification_method, credential["proof"]["created"]
        )
        report = world.run(lambda s: service.verify(s, world.ctx, outside))
        assert report.check("status").ok
        assert report.check("status").detail.startswith("not revocable")
