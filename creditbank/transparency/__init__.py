"""The public transparency log: an RFC 9162 Merkle tree over journal transactions, with C2SP checkpoints.

The pure formats (RFC 9162 Merkle hashing and proofs, C2SP signed notes and checkpoints, their errors)
are in :mod:`creditbank.standards.tlog`. Here: :mod:`.store` (the tree's nodes and checkpoints in the
database), :mod:`.publisher` (the background checkpoint publisher) and :mod:`.endpoints`.
"""
