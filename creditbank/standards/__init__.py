"""Pure standards code: what a third party could verify with the same specifications and no database.

- :mod:`.vc`: W3C Verifiable Credentials machinery: Multikey encoding, the bundled JSON-LD contexts
  and their offline loader, Data Integrity proofs (``eddsa-rdfc-2022`` and ``eddsa-jcs-2022``),
  Bitstring Status List encoding, did:web documents and JWK sets, and their errors; trust roots, and
  the certificate verification checks over a resolver (offline files, or any other), with the
  evidence format they read.
- :mod:`.tlog`: the transparency log's RFC 9162 Merkle tree (hashing, proofs, verifiers) and C2SP
  signed notes and checkpoints, and their errors.
- :mod:`.ledger`: the journal's leaf format (written by the ledger, replayed by the auditor, read by
  the verifier).

Nothing here imports SQLModel, SQLAlchemy, FastAPI, :mod:`creditbank.db` or a domain service
(``tests/test_layers.py`` checks it); the services (issuance, status lists, the key store, the
log store, the resolvers over the database) call into it. It may use :mod:`creditbank.crypto`,
:mod:`creditbank.canonical`, :mod:`creditbank.errors` and :mod:`creditbank.ids`.
"""
