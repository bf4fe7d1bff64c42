"""The auditor's side of the ledger: checks anyone can run against the public log, trusting nothing but
the log's public key.

- :mod:`creditbank.audit.replay`: replays the journal invariants from the leaves alone (pure, no I/O).
- :mod:`creditbank.audit.verify`: downloads a log over HTTP and checks its checkpoint signature, leaf
  hashes, root, consistency with the last audit and the replay.
- :mod:`creditbank.audit.checkpoint`: verifies any C2SP checkpoint with a verifier key.
- :mod:`creditbank.audit.cli`: ``creditbank audit checkpoint`` and ``creditbank audit verify``.
"""
