"""Transfer certificates: W3C Verifiable Credentials 2.0 in the Open Badges 3.0 / CLR 2.0 shapes.

The modules here are pure (no database, no network): :mod:`.multikey` (key encoding),
:mod:`.dataintegrity` (``eddsa-jcs-2022`` proofs), :mod:`.statuslist` (Bitstring Status List),
:mod:`.did` (did:web documents and JWK sets), :mod:`.contexts` (bundled JSON-LD contexts and an
offline document loader) and :mod:`.builder` (credential builders).
"""
