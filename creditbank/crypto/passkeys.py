"""WebAuthn (passkeys) through the maintained ``webauthn`` library (py_webauthn 3.x).

The library builds the options the browser passes to ``navigator.credentials.create()`` and
``.get()``, and verifies what the authenticator answers: the client data (type, challenge, origin),
the RP ID hash, user presence and verification, the attestation (``none`` is asked for: the bank
does not vet authenticator makers), the signature over authenticator data and client data, and the
signature counter. Whatever the library raises is translated here into :class:`PasskeyInvalid`, so
the domains never see a library exception. Challenges are made by the caller (and kept server-side
by it); this module never stores anything.
"""

import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from creditbank.crypto.errors import CryptoError

TIMEOUT_MS = 120_000


class PasskeyInvalid(CryptoError):
    """An authenticator's answer does not verify (the reason says which check failed)."""


NO_ID = "the credential names no id"
BAD_HANDLE = "the user handle is not base64url text"


@dataclass(frozen=True)
class NewPasskey:
    credential_id: str
    """base64url of the credential id"""
    public_key: bytes
    """the COSE public key"""
    sign_count: int
    aaguid: str


def registration_options(
    *, rp_id: str, rp_name: str, user_id: bytes, user_name: str, challenge: bytes, exclude: list[str]
) -> dict[str, Any]:
    """The JSON options of ``navigator.credentials.create()`` (a discoverable credential, user
    verification preferred, no attestation), excluding credentials already registered."""
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_id,
        user_name=user_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=_bytes(c)) for c in exclude],
    )
    found: dict[str, Any] = json.loads(options_to_json(options))
    return found


def authentication_options(*, rp_id: str, challenge: bytes) -> dict[str, Any]:
    """The JSON options of ``navigator.credentials.get()`` for a discoverable credential (no
    account named: the authenticator offers the passkeys it holds for this site)."""
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    found: dict[str, Any] = json.loads(options_to_json(options))
    return found


def verify_registration(
    credential: dict[str, Any], *, challenge: bytes, rp_id: str, origins: list[str]
) -> NewPasskey:
    """Check the answer of ``navigator.credentials.create()``.

    Raises:
        PasskeyInvalid: malformed, another challenge, origin or RP, no user presence, a bad attestation.
    """
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origins
        )
    except Exception as exc:  # the library raises its own errors, ValueError, KeyError, CBOR errors…
        raise PasskeyInvalid(str(exc) or type(exc).__name__) from exc
    return NewPasskey(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
    )


def verify_authentication(
    credential: dict[str, Any],
    *,
    challenge: bytes,
    rp_id: str,
    origins: list[str],
    public_key: bytes,
    sign_count: int,
) -> int:
    """Check the answer of ``navigator.credentials.get()`` against the stored public key and sign
    count; return the authenticator's new sign count.

    Raises:
        PasskeyInvalid: malformed, another challenge, origin or RP, a bad signature, or a sign count
            not above the stored one (a cloned authenticator or a replay).
    """
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
        )
    except Exception as exc:
        raise PasskeyInvalid(str(exc) or type(exc).__name__) from exc
    return int(verified.new_sign_count)


def credential_id_of(credential: dict[str, Any]) -> str:
    """The (base64url) id a browser's credential JSON names, as sent (checked by the verification).

    Raises:
        PasskeyInvalid: no string id.
    """
    value = credential.get("id")
    if not isinstance(value, str) or not 1 <= len(value) <= 1400:
        raise PasskeyInvalid(NO_ID)
    return value


def user_handle_of(credential: dict[str, Any]) -> bytes | None:
    """The user handle an assertion carries (the account id given at registration), or None.

    Raises:
        PasskeyInvalid: a user handle that is not base64url text.
    """
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle is None or handle == "":
        return None
    if not isinstance(handle, str):
        raise PasskeyInvalid(BAD_HANDLE)
    try:
        return _bytes(handle)
    except Exception as exc:
        raise PasskeyInvalid(BAD_HANDLE) from exc


def _bytes(value: str) -> bytes:
    return base64url_to_bytes(value)
