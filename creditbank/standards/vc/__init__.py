"""W3C Verifiable Credentials 2.0 machinery with no database and no network.

:mod:`.multikey` (key encoding), :mod:`.contexts` (bundled JSON-LD contexts and an offline document
loader), :mod:`.dataintegrity` (``eddsa-rdfc-2022`` and ``eddsa-jcs-2022`` proofs), :mod:`.statuslist`
(Bitstring Status List), :mod:`.did` (did:web documents and JWK sets), :mod:`.errors` (every
credential, proof, key-encoding, DID and status-list error, with its HTTP status), :mod:`.trust`
(trust roots and the signed issuer register), :mod:`.verification` (the seven checks of a
certificate, with :mod:`.ledger_check`), :mod:`.resolvers` (where the checks get what a certificate
refers to: the interface, offline files, a recorder) and :mod:`.evidence` (the evidence format).
"""
