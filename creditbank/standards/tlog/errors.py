"""Errors raised by :mod:`creditbank.transparency`.

Each carries its HTTP status and problem ``type`` slug (see :mod:`creditbank.errors`), so an endpoint can
let it propagate and the application renders it once as problem+json. Names follow the project's
convention (``SignatureInvalid``, ``NotFound``) rather than an ``Error`` suffix.
"""

from creditbank.errors import CreditBankError


class TransparencyError(CreditBankError):
    """Base of every error this package raises."""

    status = 400
    slug = "transparency-error"
    title = "Transparency log error"


class ProofInvalid(TransparencyError):
    """An inclusion or consistency proof does not verify against the given root(s)."""

    status = 422
    slug = "proof-invalid"
    title = "The Merkle proof does not verify"


class ProofRequestInvalid(TransparencyError):
    """A proof or root was asked for with impossible arguments (an index past the size, first > second)."""

    status = 422
    slug = "proof-request-invalid"
    title = "No proof exists for these tree sizes"


class NodeMissing(TransparencyError):
    """The node store lacks a node that a tree of the given size must have: the store is damaged."""

    status = 500
    slug = "merkle-node-missing"
    title = "The log's Merkle tree is incomplete"


class NoteInvalid(TransparencyError):
    """A signed note is malformed, or carries no verifying signature from a known key."""

    status = 422
    slug = "note-invalid"
    title = "The signed note is not valid"


class NoteKeyInvalid(TransparencyError):
    """A note signer or verifier key (or its text form) is malformed."""

    status = 422
    slug = "note-key-invalid"
    title = "The note key is not valid"


class CheckpointInvalid(TransparencyError):
    """A checkpoint's note text does not follow C2SP tlog-checkpoint."""

    status = 422
    slug = "checkpoint-invalid"
    title = "The checkpoint is not valid"
