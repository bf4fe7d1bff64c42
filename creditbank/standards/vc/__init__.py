"""W3C Verifiable Credentials 2.0 machinery with no database and no network.

:mod:`.multikey` (key encoding), :mod:`.contexts` (bundled JSON-LD contexts and an offline document
loader), :mod:`.dataintegrity` (``eddsa-rdfc-2022`` and ``eddsa-jcs-2022`` proofs), :mod:`.statuslist`
(Bitstring Status List), :mod:`.did` (did:web documents and JWK sets), :mod:`.errors` (every
credential, proof, key-encoding, DID and status-list error, with its HTTP status).
"""
