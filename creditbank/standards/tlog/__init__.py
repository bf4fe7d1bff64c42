"""The transparency log's formats with no database.

- :mod:`.merkle`: RFC 9162 hashing, stored-node proofs, the incremental appender and the verifiers.
- :mod:`.note`: C2SP signed notes (Ed25519) and tlog checkpoints.
- :mod:`.errors`: the errors of both, with their HTTP status.
"""
