import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import rfc8785

from creditbank.credentials.builder import (
    ClrInput,
    build_clr_credential,
    build_lot_credential,
    credit_number,
    hashed_identity,
    identity_hash,
    new_credential_id,
)
from creditbank.crypto import signing
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.contexts import CREDIT_TRANSFER_VOCAB
from creditbank.standards.vc.errors import CredentialInputInvalid
from tests.credentials.factories import (
    FIXED_SEED,
    ISSUER_DID,
    VERIFICATION_METHOD,
    issuer,
    lot_input,
    signed_clr,
    signed_lot,
)
from tests.credentials.jsonld_helpers import assert_nothing_dropped

OB = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#"


def _find(node: Any, key: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found.extend(_find(v, key))
    elif isinstance(node, list):
        for v in node:
            found.extend(_find(v, key))
    return found


class TestCreditNumber:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Decimal("2.5"), 2.5),
            (Decimal("3.0"), 3),
            (Decimal("3"), 3),
            (Decimal("0.5"), 0.5),
            (Decimal("12.25"), 12.25),
            (4, 4),
            (2.0, 2),
            (1.5, 1.5),
            (Decimal("0"), 0),
        ],
    )
    def test_values(self, value: Decimal | int | float, expected: float) -> None:
        result = credit_number(value)
        assert result == expected
        assert type(result) is type(expected)

    def test_json_form_is_stable(self) -> None:
        assert rfc8785.dumps([credit_number(Decimal("2.5")), credit_number(Decimal("3.0"))]) == b"[2.5,3]"

    @pytest.mark.parametrize(
        "value",
        [
            Decimal("-1"),
            Decimal("NaN"),
            Decimal("Infinity"),
            float("inf"),
            True,
            Decimal("0.12345678901234567891"),
            2**60,
        ],
    )
    def test_rejects(self, value: Any) -> None:
        with pytest.raises(CredentialInputInvalid):
            credit_number(value)


class TestIdentity:
    def test_hash(self) -> None:
        ident = hashed_identity("lrn_1", "abcd")
        assert ident == {
            "type": "IdentityObject",
            "identityHash": "sha256$" + hashlib.sha256(b"lrn_1abcd").hexdigest(),
            "identityType": "identifier",
            "hashed": True,
            "salt": "abcd",
        }
        assert identity_hash("lrn_1", "abcd") == ident["identityHash"]

    def test_fresh_128_bit_salt(self) -> None:
        a, b = hashed_identity("lrn_1"), hashed_identity("lrn_1")
        assert len(a["salt"]) == 32
        assert int(a["salt"], 16) >= 0
        assert a["salt"] != b["salt"]
        assert a["identityHash"] != b["identityHash"]

    def test_empty(self) -> None:
        with pytest.raises(CredentialInputInvalid):
            hashed_identity("")


class TestLotCredential:
    def test_shape(self) -> None:
        cred = build_lot_credential(lot_input())
        assert cred["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
        assert cred["issuer"]["id"] == ISSUER_DID
        subject = cred["credentialSubject"]
        assert subject["creditsEarned"] == 2.5
        assert subject["achievement"]["creditsAvailable"] == 3
        assert isinstance(subject["achievement"]["creditsAvailable"], int)
        assert subject["result"] == [{"type": ["Result"], "value": "优秀"}]
        assert subject["identifier"][0]["hashed"] is True
        assert "lrn_7f3a9c2e" not in json.dumps(cred)
        transfer = subject["creditTransfer"]
        assert transfer["lotIds"] == ["lot_01", "lot_02"]
        assert transfer["ledgerReference"]["sequenceNumber"] == 1234
        assert cred["credentialStatus"]["statusListIndex"] == "42"
        assert cred["validFrom"] == "2025-03-01T00:00:00Z"

    def test_no_learner_id_and_fresh_salt_by_default(self) -> None:
        a = build_lot_credential(lot_input(salt=None))
        b = build_lot_credential(lot_input(salt=None))
        assert a["credentialSubject"]["identifier"] != b["credentialSubject"]["identifier"]

    def test_signed_verifies(self) -> None:
        cred = signed_lot()
        public = signing.public_key(FIXED_SEED)
        result = dataintegrity.verify(cred, lambda vm: public if vm == VERIFICATION_METHOD else b"")
        dataintegrity.check_issuer(cred, result.verification_method)

    def test_bad_dates(self) -> None:
        from dataclasses import replace

        inp = lot_input()
        with pytest.raises(CredentialInputInvalid):
            build_lot_credential(replace(inp, valid_until=inp.valid_from))
        with pytest.raises(CredentialInputInvalid):
            build_lot_credential(replace(inp, valid_from=datetime(2025, 1, 1)))

    def test_credential_id(self) -> None:
        assert new_credential_id().startswith("urn:uuid:")


class TestExpansion:
    def test_lot_credential_expands_without_loss(self) -> None:
        cred = signed_lot()
        expanded = assert_nothing_dropped(cred)
        flat = json.dumps(expanded)
        assert CREDIT_TRANSFER_VOCAB + "creditTransfer" in flat
        assert CREDIT_TRANSFER_VOCAB + "ledgerReference" in flat
        assert OB + "creditsEarned" in flat
        assert OB + "identityHash" in flat

    def test_credit_transfer_values_survive(self) -> None:
        expanded = assert_nothing_dropped(signed_lot())
        transfers = _find(expanded, CREDIT_TRANSFER_VOCAB + "creditTransfer")
        assert len(transfers) == 1
        lots = _find(transfers, CREDIT_TRANSFER_VOCAB + "lotId")
        assert [v["@value"] for v in lots[0]] == ["lot_01", "lot_02"]
        seq = _find(transfers, CREDIT_TRANSFER_VOCAB + "sequenceNumber")
        assert seq[0][0]["@value"] == 1234

    def test_unsigned_and_whole_credit_variants(self) -> None:
        assert_nothing_dropped(build_lot_credential(lot_input(credits=Decimal("3.0"), grade=None)))

    def test_clr_expands_without_loss(self) -> None:
        clr = signed_clr()
        expanded = assert_nothing_dropped(clr)
        assert len(_find(expanded, CREDIT_TRANSFER_VOCAB + "creditTransfer")) == 2
        public = signing.public_key(FIXED_SEED)
        dataintegrity.verify(clr, lambda _vm: public)
        for inner in clr["credentialSubject"]["verifiableCredential"]:
            dataintegrity.verify(inner, lambda _vm: public)

    def test_clr_needs_signed_credentials(self) -> None:
        with pytest.raises(CredentialInputInvalid):
            build_clr_credential(
                ClrInput(
                    credential_id=new_credential_id(),
                    issuer=issuer(),
                    learner_id="lrn_1",
                    name="x",
                    valid_from=datetime(2025, 1, 1, tzinfo=UTC),
                    credentials=[build_lot_credential(lot_input())],
                )
            )
        with pytest.raises(CredentialInputInvalid):
            build_clr_credential(
                ClrInput(
                    credential_id=new_credential_id(),
                    issuer=issuer(),
                    learner_id="lrn_1",
                    name="x",
                    valid_from=datetime(2025, 1, 1, tzinfo=UTC),
                )
            )
