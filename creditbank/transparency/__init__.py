"""The public transparency log: an RFC 9162 Merkle tree over journal transactions, with C2SP checkpoints.

- :mod:`creditbank.transparency.merkle`: hashing, stored-node proofs, the incremental appender and the
  RFC 9162 verifiers (pure, no database).
- :mod:`creditbank.transparency.note`: C2SP signed notes (Ed25519) and tlog checkpoints.
- :mod:`creditbank.transparency.errors`: the domain errors of both, with their HTTP status.
"""
