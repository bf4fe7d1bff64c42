import copy
from decimal import Decimal

from fastapi.testclient import TestClient

from creditbank.context import AppContext
from creditbank.credentials import keys
from creditbank.ledger.models import LotLock
from creditbank.standards.vc import dataintegrity
from tests.catalog.scenario import build
from tests.conftest import Tokens


class TestCatalogueWrites:
    def test_a_programme_is_created_once_per_key(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        s = build(client, auth, ctx)
        body = {"code": "P9", "title_zh": "数据技术", "title_en": "Data Technology", "graduation_credits": 30}
        assert client.post("/api/v1/programmes", json=body, headers=s.dest_headers).status_code == 422
        first = client.post(
            "/api/v1/programmes", json=body, headers={**s.dest_headers, "Idempotency-Key": "p9"}
        )
        again = client.post(
            "/api/v1/programmes", json=body, headers={**s.dest_headers, "Idempotency-Key": "p9"}
        )
        assert first.status_code == again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
        listed = client.get("/api/v1/programmes", params={"institution_id": s.dest}).json()
        assert [p["code"] for p in listed].count("P9") == 1
        other = client.post(
            "/api/v1/programmes",
            json={**body, "code": "P10"},
            headers={**s.dest_headers, "Idempotency-Key": "p9"},
        )
        assert other.status_code == 409


class TestTransfer:
    def test_learner_transfers_and_destination_converts_once(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        s = build(client, auth, ctx)
        r = s.post(
            "/api/v1/transfers",
            {"lot_ids": s.lots, "destination_institution_id": s.dest, "programme_id": s.programme},
            s.learner_headers,
            "t1",
        )
        assert r.status_code == 201, r.text
        transfer = r.json()
        assert len(transfer["certificates"]) == 2
        incoming = client.get("/api/v1/transfers", headers=s.dest_headers).json()
        assert [t["id"] for t in incoming] == [transfer["id"]]

        accepted = s.post(f"/api/v1/transfers/{transfer['id']}/accept", {}, s.dest_headers, "a1")
        assert accepted.status_code == 200, accepted.text
        conversion = accepted.json()
        assert Decimal(conversion["credits"]) > 0
        assert conversion["plan"]["items"], conversion["plan"]
        assert sorted(conversion["lot_ids"]) == sorted(s.lots)

        again = s.post(f"/api/v1/transfers/{transfer['id']}/accept", {}, s.dest_headers, "a2")
        assert again.status_code == 409
        assert again.json()["type"].endswith("/transfer-closed")
        # the same certificates again at the destination: the ledger converts each lot once
        consent = s.post(
            "/api/v1/consents",
            {"destination_institution_id": s.dest, "lot_ids": s.lots},
            s.learner_headers,
            "consent-again",
        )
        assert consent.status_code == 201, consent.text
        again_here = s.post(
            "/api/v1/conversions",
            {"programme_id": s.programme, "certificates": transfer["certificates"]},
            s.dest_headers,
            "c1",
        )
        assert again_here.status_code == 409, again_here.text
        assert again_here.json()["type"].endswith("/lot-already-converted")

    def test_tampered_certificate_is_rejected(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        s = build(client, auth, ctx)
        r = s.post(
            "/api/v1/transfers",
            {"lot_ids": s.lots[:1], "destination_institution_id": s.dest, "programme_id": s.programme},
            s.learner_headers,
            "t1",
        )
        cert = copy.deepcopy(r.json()["certificates"][0])
        cert["credentialSubject"]["creditsEarned"] = 99
        bad = s.post(
            "/api/v1/conversions", {"programme_id": s.programme, "certificates": [cert]}, s.dest_headers, "c"
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["type"].endswith("/certificate-rejected")
        assert "proof" in bad.json()["detail"]

    def test_lots_come_from_the_leaf_not_the_body(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        """A certificate of lot A, re-signed with the source's REAL key to name lot B, converts nothing."""
        s = build(client, auth, ctx)
        r = s.post(
            "/api/v1/transfers",
            {"lot_ids": s.lots[:2], "destination_institution_id": s.dest, "programme_id": s.programme},
            s.learner_headers,
            "t1",
        )
        assert r.status_code in (200, 201), r.text
        cert = copy.deepcopy(r.json()["certificates"][0])
        named = cert["credentialSubject"]["creditTransfer"]["lotIds"]
        other = next(lot for lot in s.lots[:2] if lot not in named)
        cert["credentialSubject"]["creditTransfer"]["lotIds"] = [other]
        with ctx.sessions() as session, session.begin():
            signer = keys.signer_for(session, ctx.secrets.master_key, ctx.settings.base_url, s.source)
        unsigned = {k: v for k, v in cert.items() if k != "proof"}
        forged = dataintegrity.sign(
            unsigned, signer.seed, signer.verification_method, cert["proof"]["created"]
        )
        bad = s.post(
            "/api/v1/conversions",
            {"programme_id": s.programme, "certificates": [forged]},
            s.dest_headers,
            "c",
        )
        assert bad.status_code == 422, bad.text
        assert bad.json()["type"].endswith("/certificate-rejected")
        assert "ledger" in bad.json()["detail"] and "proof" not in bad.json()["detail"]
        with ctx.sessions() as session:
            assert session.get(LotLock, other) is None

    def test_institution_needs_consent_and_own_lots(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        s = build(client, auth, ctx)
        body = {
            "learner_id": s.learner,
            "lot_ids": s.lots,
            "destination_institution_id": s.dest,
            "programme_id": s.programme,
        }
        missing = s.post("/api/v1/transfers", body, s.source_headers, "n")
        assert missing.status_code == 403, missing.text
        assert missing.json()["type"].endswith("/consent-required")
        # a free-text reference is not a consent the learner gave
        claimed = s.post(
            "/api/v1/transfers", {**body, "learner_consent": "consent form 2026-118"}, s.source_headers, "y"
        )
        assert claimed.status_code == 403, claimed.text
        assert claimed.json()["type"].endswith("/consent-required")
        given = s.post(
            "/api/v1/consents",
            {"destination_institution_id": s.dest, "lot_ids": s.lots},
            s.learner_headers,
            "consent",
        ).json()
        not_issuer = s.post(
            "/api/v1/transfers", {**body, "learner_consent": given["id"]}, s.other_headers, "z"
        )
        assert not_issuer.status_code == 403
        ok = s.post("/api/v1/transfers", {**body, "learner_consent": given["id"]}, s.source_headers, "ok")
        assert ok.status_code == 201, ok.text

    def test_other_learner_cannot_transfer(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        s = build(client, auth, ctx)
        from creditbank.auth.models import Role

        stranger = auth(Role.learner, "lrn_someone_else")
        r = s.post(
            "/api/v1/transfers",
            {
                "learner_id": s.learner,
                "lot_ids": s.lots,
                "destination_institution_id": s.dest,
                "programme_id": s.programme,
            },
            stranger,
            "s",
        )
        assert r.status_code == 403

    def test_equivalence_validated_and_used(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        s = build(client, auth, ctx)
        bad = client.post(
            "/api/v1/equivalences",
            json={
                "requires": {"all_of": []},
                "destination_kind": "course",
                "destination_code": "C1",
                "destination_title_zh": "课",
                "destination_title_en": "Course",
                "credits": 2,
            },
            headers={**s.dest_headers, "Idempotency-Key": "equivalence-bad"},
        )
        assert bad.status_code == 422
        good = client.post(
            "/api/v1/equivalences",
            json={
                "requires": {"lot": {"outcome_type": "mooc", "field": "web_front_end"}},
                "destination_kind": "course",
                "destination_code": "JS101",
                "destination_title_zh": "JavaScript程序设计",
                "destination_title_en": "JavaScript Programming",
                "credits": 2,
            },
            headers={**s.dest_headers, "Idempotency-Key": "equivalence-good"},
        )
        assert good.status_code == 201, good.text
        listed = client.get("/api/v1/equivalences", params={"institution_id": s.dest}).json()
        assert [e["destination_code"] for e in listed] == ["JS101"]
        r = s.post(
            "/api/v1/transfers",
            {"lot_ids": s.lots[1:], "destination_institution_id": s.dest, "programme_id": s.programme},
            s.learner_headers,
            "t",
        )
        conversion = s.post(f"/api/v1/transfers/{r.json()['id']}/accept", {}, s.dest_headers, "a").json()
        assert [i["destination_code"] for i in conversion["plan"]["items"]] == ["JS101"]
