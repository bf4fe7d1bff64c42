"""The ledger's published formats with no database.

- :mod:`.leaf`: the leaf format of the ledger's transparency log (one journal transaction as RFC 8785
  JSON): written by ``creditbank.ledger``, replayed by ``creditbank.audit`` and read by the
  certificate verifier (:mod:`creditbank.standards.vc.ledger_check`).
"""
