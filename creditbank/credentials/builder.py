"""Pure builders for transfer certificates (unsigned; sign with :mod:`.dataintegrity`).

One credit lot becomes one Open Badges 3.0 credential (``type`` = ``["VerifiableCredential",
"OpenBadgeCredential"]``, as in the OB 3.0 examples; ``AchievementCredential`` is an alias of
``OpenBadgeCredential`` in the OB context), so each lot can be revoked alone. Several signed lot
credentials can be bundled into a CLR 2.0 ``ClrCredential``.

Shape of a lot credential (``@context`` = VC 2.0, OB 3.0.3, our credit-transfer context, which the
service publishes under its own base URL: ``transfer_context``)::

    issuer             Profile: id = the institution's did:web, name (Chinese), description (English name)
    validFrom/Until    XML Schema dateTimes (UTC, ``Z``)
    credentialStatus   one BitstringStatusListEntry object (see :mod:`.statuslist`), revocation; the
                       OB 3.0 and CLR 2.0 JSON Schemas require an object. None at all is allowed
                       (VC 2.0): such a credential cannot be revoked
    credentialSubject  AchievementSubject:
      identifier       [IdentityObject] with hashed = true, identityType = "identifier",
                       identityHash = "sha256$" + hex(SHA-256(learner_id + salt)), salt = 32 hex
                       digits of a fresh 128-bit random value (new for every credential)
      achievement      Achievement: achievementType, name, description, criteria, humanCode,
                       creditsAvailable, fieldOfStudy
      creditsEarned    credits as a JSON number
      result           [Result] with the grade as ``value`` (when there is one)
      creditTransfer   CreditTransfer (our context): creditSystem, lotIds, ruleCitation (ruleId,
                       ruleVersion, ruleSetHash), ledgerReference (logOrigin, sequenceNumber,
                       leafHash = standard base64 of the 32-byte RFC 9162 leaf hash, as the log's
                       HTTP API prints it), sourceOutcome (when known), destinationInstitution

OB 3.0's JSON Schema requires ``name`` to be a plain string, so names are not VC 2.0 language
maps: the Chinese name is ``name`` and the English name goes to ``description``.

Credits are ``Decimal`` everywhere else in the service; here they become JSON numbers via
:func:`credit_number` (``Decimal("2.5")`` → ``2.5``, ``Decimal("3.0")`` → ``3``): ``rfc8785``
refuses ``Decimal``, and a stable number form keeps signatures reproducible.
"""

import base64
import hashlib
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from creditbank.i18n import msg
from creditbank.standards.vc.contexts import (
    CLR_V2_CONTEXT,
    LEGACY_CREDIT_TRANSFER_CONTEXT,
    OB_V3_CONTEXT,
    VC_V2_CONTEXT,
)
from creditbank.standards.vc.errors import CredentialInputInvalid

OB_CONTEXTS: list[str] = [VC_V2_CONTEXT, OB_V3_CONTEXT]
CLR_CONTEXTS: list[str] = [VC_V2_CONTEXT, CLR_V2_CONTEXT, OB_V3_CONTEXT]
"""Followed by the credit-transfer context's URL (``transfer_context`` of the input)."""
OB_TYPES: list[str] = ["VerifiableCredential", "OpenBadgeCredential"]
CLR_TYPES: list[str] = ["VerifiableCredential", "ClrCredential"]
SALT_BYTES = 16
_MAX_SAFE_INTEGER = 2**53 - 1

Credits = Decimal | int | float


@dataclass(frozen=True)
class IssuerInfo:
    """The issuing institution (or the bank)."""

    did: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class AchievementInfo:
    """The course or outcome the credits are for."""

    id: str
    achievement_type: str
    name: str
    human_code: str
    credits_available: Credits
    field_of_study: str
    description: str = ""
    criteria_narrative: str = ""


@dataclass(frozen=True)
class RuleCitationInfo:
    """The recognition rule that produced the lot."""

    rule_id: str
    rule_version: str
    rule_set_hash: str


@dataclass(frozen=True)
class LedgerReferenceInfo:
    """Where the lot's journal transaction sits in the transparency log."""

    log_origin: str
    sequence_number: int
    leaf_hash: bytes


@dataclass(frozen=True)
class CreditTransferInfo:
    """The ``creditTransfer`` extension."""

    credit_system: str
    lot_ids: Sequence[str]
    rule: RuleCitationInfo
    ledger: LedgerReferenceInfo
    source_outcome: str
    destination_institution: str | None = None


@dataclass(frozen=True)
class LotCredentialInput:
    """Everything a lot credential says. ``salt`` is generated when None (tests may fix it)."""

    credential_id: str
    issuer: IssuerInfo
    learner_id: str
    achievement: AchievementInfo
    credits_earned: Credits
    valid_from: datetime
    transfer: CreditTransferInfo
    credential_status: dict[str, Any] | None = None
    grade: str | None = None
    valid_until: datetime | None = None
    salt: str | None = None
    transfer_context: str = LEGACY_CREDIT_TRANSFER_CONTEXT


@dataclass(frozen=True)
class ClrInput:
    """A CLR bundle of already signed lot credentials for one learner."""

    credential_id: str
    issuer: IssuerInfo
    learner_id: str
    name: str
    valid_from: datetime
    credentials: Sequence[dict[str, Any]] = field(default_factory=list)
    credential_status: dict[str, Any] | None = None
    valid_until: datetime | None = None
    partial: bool = False
    salt: str | None = None
    transfer_context: str = LEGACY_CREDIT_TRANSFER_CONTEXT


def new_credential_id() -> str:
    """Return a fresh ``urn:uuid:`` credential id."""
    return f"urn:uuid:{uuid.uuid4()}"


def new_salt() -> str:
    """Return a fresh 128-bit salt as 32 lowercase hex digits."""
    return secrets.token_hex(SALT_BYTES)


def identity_hash(learner_id: str, salt: str) -> str:
    """Return ``"sha256$" + hex(SHA-256(learner_id + salt))`` (OB 3.0 IdentityHash)."""
    return "sha256$" + hashlib.sha256((learner_id + salt).encode("utf-8")).hexdigest()


def hashed_identity(learner_id: str, salt: str | None = None) -> dict[str, Any]:
    """Return an OB 3.0 ``IdentityObject`` for the learner's bank id, hashed with a salt.

    Raises:
        CredentialInputInvalid: empty learner id or salt.
    """
    if not learner_id:
        raise CredentialInputInvalid(msg("detail.credentials.builder.learner_id_empty"))
    salt = new_salt() if salt is None else salt
    if not salt:
        raise CredentialInputInvalid(msg("detail.credentials.builder.salt_empty"))
    return {
        "type": "IdentityObject",
        "identityHash": identity_hash(learner_id, salt),
        "identityType": "identifier",
        "hashed": True,
        "salt": salt,
    }


def credit_number(value: Credits) -> int | float:
    """Return credits as a JSON number: an int when whole, else a float that prints the same.

    Raises:
        CredentialInputInvalid: negative, not finite, a bool, beyond 2**53, or a decimal that a
            float cannot carry exactly in its shortest form (e.g. 17 significant digits).
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise CredentialInputInvalid(
            msg("detail.credentials.builder.credits_must_number_got", kind=type(value).__name__)
        )
    try:
        dec = (
            value
            if isinstance(value, Decimal)
            else Decimal(repr(value) if isinstance(value, float) else value)
        )
        if not dec.is_finite():
            raise CredentialInputInvalid(msg("detail.credentials.builder.credits_must_finite"))
    except InvalidOperation as exc:
        raise CredentialInputInvalid(msg("detail.credentials.builder.not_a_number", value=value)) from exc
    if dec < 0:
        raise CredentialInputInvalid(msg("detail.credentials.builder.credits_must_negative"))
    if dec == dec.to_integral_value():
        whole = int(dec)
        if whole > _MAX_SAFE_INTEGER:
            raise CredentialInputInvalid(msg("detail.credentials.builder.credits_beyond"))
        return whole
    as_float = float(dec)
    if not math.isfinite(as_float) or Decimal(repr(as_float)) != dec:
        raise CredentialInputInvalid(msg("detail.credentials.builder.has_no_exact_json", value=value))
    return as_float


def xsd_datetime(value: datetime) -> str:
    """Return an aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).

    Raises:
        CredentialInputInvalid: naive datetime.
    """
    if value.tzinfo is None:
        raise CredentialInputInvalid(msg("detail.credentials.builder.datetimes_must_timezone_aware"))
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def issuer_profile(issuer: IssuerInfo) -> dict[str, Any]:
    """Return the OB 3.0 ``Profile`` of the issuer."""
    return {"id": issuer.did, "type": ["Profile"], "name": issuer.name_zh, "description": issuer.name_en}


def achievement(info: AchievementInfo) -> dict[str, Any]:
    """Return the OB 3.0 ``Achievement``.

    Raises:
        CredentialInputInvalid: bad ``credits_available``.
    """
    return {
        "id": info.id,
        "type": ["Achievement"],
        "achievementType": info.achievement_type,
        "name": info.name,
        "description": info.description or info.name,
        "criteria": {"narrative": info.criteria_narrative or info.description or info.name},
        "humanCode": info.human_code,
        "creditsAvailable": credit_number(info.credits_available),
        "fieldOfStudy": info.field_of_study,
    }


def credit_transfer(info: CreditTransferInfo) -> dict[str, Any]:
    """Return the ``creditTransfer`` extension object.

    Raises:
        CredentialInputInvalid: no lot ids, a negative sequence number, or a leaf hash that is
            not 32 bytes.
    """
    if not info.lot_ids:
        raise CredentialInputInvalid(msg("detail.credentials.builder.credit_transfer_names_least"))
    if info.ledger.sequence_number < 0 or info.ledger.sequence_number > _MAX_SAFE_INTEGER:
        raise CredentialInputInvalid(msg("detail.credentials.builder.sequence_number_out_range"))
    if len(info.ledger.leaf_hash) != 32:
        raise CredentialInputInvalid(msg("detail.credentials.builder.leaf_hash_must_bytes"))
    transfer: dict[str, Any] = {
        "type": "CreditTransfer",
        "creditSystem": info.credit_system,
        "lotIds": list(info.lot_ids),
        "ruleCitation": {
            "type": "RuleCitation",
            "ruleId": info.rule.rule_id,
            "ruleVersion": info.rule.rule_version,
            "ruleSetHash": info.rule.rule_set_hash,
        },
        "ledgerReference": {
            "type": "LedgerReference",
            "logOrigin": info.ledger.log_origin,
            "sequenceNumber": info.ledger.sequence_number,
            "leafHash": base64.b64encode(info.ledger.leaf_hash).decode("ascii"),
        },
    }
    if info.source_outcome:
        transfer["sourceOutcome"] = info.source_outcome
    if info.destination_institution:
        transfer["destinationInstitution"] = info.destination_institution
    return transfer


def _validity(credential: dict[str, Any], valid_from: datetime, valid_until: datetime | None) -> None:
    credential["validFrom"] = xsd_datetime(valid_from)
    if valid_until is not None:
        if valid_until <= valid_from:
            raise CredentialInputInvalid(msg("detail.credentials.builder.validuntil_must_after_validfrom"))
        credential["validUntil"] = xsd_datetime(valid_until)


def _status(value: dict[str, Any]) -> dict[str, Any]:
    """The one ``credentialStatus`` object (OB 3.0 and CLR 2.0 refuse an array).

    Raises:
        CredentialInputInvalid: not a single status entry object.
    """
    if not isinstance(value, dict) or not value:
        raise CredentialInputInvalid(msg("detail.credentials.builder.credentialstatus_must_one_status"))
    return dict(value)


def build_lot_credential(inp: LotCredentialInput) -> dict[str, Any]:
    """Return the unsigned OB 3.0 credential for one credit lot.

    Raises:
        CredentialInputInvalid: bad credits, dates, identity or transfer data (see the helpers).
    """
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "identifier": [hashed_identity(inp.learner_id, inp.salt)],
        "achievement": achievement(inp.achievement),
        "creditsEarned": credit_number(inp.credits_earned),
    }
    if inp.grade is not None:
        subject["result"] = [{"type": ["Result"], "value": inp.grade}]
    subject["creditTransfer"] = credit_transfer(inp.transfer)
    credential: dict[str, Any] = {
        "@context": [*OB_CONTEXTS, inp.transfer_context],
        "id": inp.credential_id,
        "type": list(OB_TYPES),
        "name": inp.achievement.name,
        "issuer": issuer_profile(inp.issuer),
    }
    _validity(credential, inp.valid_from, inp.valid_until)
    credential["credentialSubject"] = subject
    if inp.credential_status is not None:
        credential["credentialStatus"] = _status(inp.credential_status)
    return credential


def build_clr_credential(inp: ClrInput) -> dict[str, Any]:
    """Return the unsigned CLR 2.0 ``ClrCredential`` bundling signed lot credentials.

    The bundle's subject carries its own hashed identity (fresh salt), the achievements of the
    bundled credentials and the credentials themselves, unchanged (each keeps its own proof).

    Raises:
        CredentialInputInvalid: no credentials, an unsigned credential, or bad dates.
    """
    if not inp.credentials:
        raise CredentialInputInvalid(msg("detail.credentials.builder.clr_bundles_least_one"))
    achievements: list[dict[str, Any]] = []
    for cred in inp.credentials:
        if "proof" not in cred:
            raise CredentialInputInvalid(
                msg("detail.credentials.builder.credential_signed", value=cred.get("id"))
            )
        subject = cred.get("credentialSubject", {})
        if isinstance(subject, dict) and isinstance(subject.get("achievement"), dict):
            achievements.append(subject["achievement"])
    credential: dict[str, Any] = {
        "@context": [*CLR_CONTEXTS, inp.transfer_context],
        "id": inp.credential_id,
        "type": list(CLR_TYPES),
        "name": inp.name,
        "issuer": issuer_profile(inp.issuer),
        "partial": inp.partial,
    }
    _validity(credential, inp.valid_from, inp.valid_until)
    credential["credentialSubject"] = {
        "type": ["ClrSubject"],
        "identifier": [hashed_identity(inp.learner_id, inp.salt)],
        "achievement": achievements,
        "verifiableCredential": [dict(c) for c in inp.credentials],
    }
    if inp.credential_status is not None:
        credential["credentialStatus"] = _status(inp.credential_status)
    return credential
