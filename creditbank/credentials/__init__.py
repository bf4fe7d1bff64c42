"""Transfer certificates: W3C Verifiable Credentials 2.0 in the Open Badges 3.0 / CLR 2.0 shapes.

The pure modules (no database, no network): :mod:`.multikey` (key encoding), :mod:`.dataintegrity`
(``eddsa-jcs-2022`` proofs), :mod:`.statuslist` (Bitstring Status List), :mod:`.did` (did:web
documents and JWK sets), :mod:`.contexts` (bundled JSON-LD contexts and an offline document loader),
:mod:`.builder` (credential builders) and :mod:`.verification` (the checks, the resolver protocol, the
offline resolver and the evidence format; only its HTTP resolver touches the network).

The service: :mod:`.models` (tables), :mod:`.keys` (signing keys), :mod:`.status_service` (status
lists), :mod:`.issuance` (issuing certificates for ledger lots), :mod:`.service` (reading, revoking,
verifying against the database, evidence bundles), :mod:`.local_resolver`, :mod:`.endpoints`,
:mod:`.schemas` and :mod:`.cli` (``creditbank keys`` and ``creditbank verify``).
"""
