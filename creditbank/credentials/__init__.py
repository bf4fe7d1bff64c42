"""Transfer certificates: W3C Verifiable Credentials 2.0 in the Open Badges 3.0 / CLR 2.0 shapes.

The pure standards code lives in :mod:`creditbank.standards.vc` (Multikey, JSON-LD contexts, Data
Integrity proofs, Bitstring Status List, did:web documents, the errors). Here: :mod:`.builder`
(credential builders), :mod:`.trust` (offline trust roots) and :mod:`.verification` (the checks, the
resolver protocol, the offline resolver and the evidence format; only its HTTP resolver touches the
network).

The service: :mod:`.models` (tables), :mod:`.keys` (signing keys), :mod:`.status_service` (status
lists), :mod:`.issuance` (issuing certificates for ledger lots), :mod:`.service` (reading, revoking,
verifying against the database, evidence bundles), :mod:`.local_resolver`, :mod:`.endpoints`,
:mod:`.schemas` and :mod:`.cli` (``creditbank keys`` and ``creditbank verify``).
"""
