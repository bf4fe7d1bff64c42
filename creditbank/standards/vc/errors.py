"""Errors raised by :mod:`creditbank.credentials`.

Each is a :class:`creditbank.errors.CreditBankError`, so the HTTP layer renders it as RFC 9457
problem+json without further mapping. Verification failures are 422 (the input is well-formed
HTTP but the credential does not hold up); a missing context or key is 404 only where the caller
asked for that resource by name.
"""

from creditbank.errors import CreditBankError


class CredentialError(CreditBankError):
    """Base of every credential, proof, key-encoding, DID and status-list error."""

    status = 422
    slug = "credential-invalid"
    title = "The credential is not valid"


class MultikeyInvalid(CredentialError):
    slug = "multikey-invalid"
    title = "publicKeyMultibase is not a z-base58btc Ed25519 Multikey"


class CanonicalizationFailed(CredentialError):
    slug = "canonicalization-failed"
    title = "The document cannot be canonicalised with RFC 8785 (JCS)"


class ProofMissing(CredentialError):
    slug = "proof-missing"
    title = "The document has no proof"


class ProofMalformed(CredentialError):
    slug = "proof-malformed"
    title = "The proof is malformed"


class CryptosuiteUnsupported(CredentialError):
    slug = "cryptosuite-unsupported"
    title = "The proof does not use DataIntegrityProof with eddsa-jcs-2022"


class ContextMismatch(CredentialError):
    slug = "context-mismatch"
    title = "The document's @context does not start with the proof's @context"


class ProofPurposeMismatch(CredentialError):
    slug = "proof-purpose-mismatch"
    title = "The proof was made for another purpose"


class SignatureInvalid(CredentialError):
    slug = "signature-invalid"
    title = "The signature does not verify"


class KeyUnresolvable(CredentialError):
    slug = "key-unresolvable"
    title = "The verification method cannot be resolved to a usable key"


class KeyNotAuthorized(KeyUnresolvable):
    slug = "key-not-authorized"
    title = "The key is not an assertion method of the issuer"


class KeyNotValidAtSigningTime(KeyUnresolvable):
    slug = "key-not-valid-at-signing-time"
    title = "The key was not valid when the proof was created"


class IssuerMismatch(CredentialError):
    slug = "issuer-mismatch"
    title = "The verification method does not belong to the issuer"


class DidInvalid(CredentialError):
    slug = "did-invalid"
    title = "The DID is not a valid did:web identifier"


class StatusListInvalid(CredentialError):
    slug = "status-list-invalid"
    title = "The status list is not a valid Bitstring Status List"


class StatusListStale(StatusListInvalid):
    slug = "status-list-stale"
    title = "The status list was signed longer ago than the verifier allows"


class StatusIndexOutOfRange(StatusListInvalid):
    slug = "status-index-out-of-range"
    title = "The status list index is outside the list"


class UndefinedTerm(CredentialError):
    slug = "jsonld-undefined-term"
    title = "The credential uses a term or IRI its JSON-LD contexts do not define"


class ContextNotBundled(CredentialError):
    slug = "context-not-bundled"
    title = "The JSON-LD context is not one of the bundled contexts"


class CredentialInputInvalid(CredentialError):
    slug = "credential-input-invalid"
    title = "The input for building a credential is not valid"


class ResolutionFailed(CredentialError):
    slug = "resolution-failed"
    title = "A DID document, status list or ledger proof could not be obtained"


class StatusUnavailable(CredentialError):
    slug = "status-unavailable"
    title = "The certificate's status cannot be read, so it is not accepted (fail closed)"


class CredentialStatusSet(CredentialError):
    slug = "credential-revoked-or-suspended"
    title = "The certificate is revoked or suspended"


class CredentialRevoked(CredentialStatusSet):
    slug = "credential-revoked"
    title = "The certificate is revoked"


class CredentialSuspended(CredentialStatusSet):
    slug = "credential-suspended"
    title = "The certificate is suspended"


class IssuerUntrusted(CredentialError):
    slug = "issuer-untrusted"
    title = "The issuer is not a registered institution of this bank, nor explicitly trusted"


class ValidityPeriodInvalid(CredentialError):
    slug = "validity-period"
    title = "The certificate is not valid at this time"


class LedgerReferenceInvalid(CredentialError):
    slug = "ledger-reference-invalid"
    title = "The certificate's ledger reference is not proven by a signed checkpoint"


class LearnerMismatch(CredentialError):
    slug = "learner-mismatch"
    title = "The certificate's hashed identity does not match the learner id"
