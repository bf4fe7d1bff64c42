"""Small typed factories for credential tests."""

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from creditbank.credentials.builder import (
    AchievementInfo,
    ClrInput,
    CreditTransferInfo,
    IssuerInfo,
    LedgerReferenceInfo,
    LotCredentialInput,
    RuleCitationInfo,
    build_clr_credential,
    build_lot_credential,
)
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.contexts import credit_transfer_context
from creditbank.standards.vc.did import did_web_for
from creditbank.standards.vc.statuslist import status_entry

FIXED_SEED = bytes(range(32))
BASE_URL = "https://bank.example"
ISSUER_DID = did_web_for(BASE_URL, ["institutions", "inst-001"])
KEY_ID = "key-1"
VERIFICATION_METHOD = f"{ISSUER_DID}#{KEY_ID}"
CREATED = "2025-03-01T08:00:00Z"


def issuer() -> IssuerInfo:
    return IssuerInfo(
        did=ISSUER_DID, name_zh="北京市示范职业学院", name_en="Beijing Model Vocational College"
    )


def lot_input(
    *,
    credits: Decimal | int | float = Decimal("2.5"),
    learner_id: str = "lrn_7f3a9c2e",
    salt: str | None = "00112233445566778899aabbccddeeff",
    index: int = 42,
    grade: str | None = "优秀",
) -> LotCredentialInput:
    return LotCredentialInput(
        credential_id="urn:uuid:3f1d2c3b-8e3a-4c55-9f5e-2a1b0c9d8e7f",
        issuer=issuer(),
        learner_id=learner_id,
        achievement=AchievementInfo(
            id=f"{BASE_URL}/institutions/inst-001/courses/PY101",
            achievement_type="Course",
            name="Python 程序设计基础",
            human_code="PY101",
            credits_available=Decimal("3.0"),
            field_of_study="计算机科学与技术",
            description="Introduction to Python programming, 48 study hours.",
        ),
        credits_earned=credits,
        valid_from=datetime(2025, 3, 1, tzinfo=UTC),
        valid_until=datetime(2030, 3, 1, tzinfo=UTC),
        grade=grade,
        credential_status=status_entry(f"{BASE_URL}/status-lists/inst-001-rev", index),
        salt=salt,
        transfer_context=credit_transfer_context(BASE_URL),
        transfer=CreditTransferInfo(
            credit_system="bj-pilot-16h",
            lot_ids=["lot_01", "lot_02"],
            rule=RuleCitationInfo(
                rule_id="train.hours", rule_version="3", rule_set_hash="sha256:" + "ab" * 32
            ),
            ledger=LedgerReferenceInfo(
                log_origin="bank.example/log/2025",
                sequence_number=1234,
                leaf_hash=hashlib.sha256(b"x").digest(),
            ),
            source_outcome="outcome_9b8a",
            destination_institution=did_web_for(BASE_URL, ["institutions", "inst-002"]),
        ),
    )


def signed_lot(**kwargs: Any) -> dict[str, Any]:
    return dataintegrity.sign(
        build_lot_credential(lot_input(**kwargs)), FIXED_SEED, VERIFICATION_METHOD, CREATED
    )


def signed_clr() -> dict[str, Any]:
    creds = [signed_lot(index=1), signed_lot(index=2, credits=Decimal("3.0"), grade=None)]
    unsigned = build_clr_credential(
        ClrInput(
            credential_id="urn:uuid:0b6f1d6e-31a4-4d6e-8a7c-5d2e9f0a1b2c",
            issuer=issuer(),
            learner_id="lrn_7f3a9c2e",
            name="学分转移证明",
            valid_from=datetime(2025, 3, 2, tzinfo=UTC),
            credentials=creds,
            salt="ffeeddccbbaa99887766554433221100",
        )
    )
    return dataintegrity.sign(unsigned, FIXED_SEED, VERIFICATION_METHOD, CREATED)
