"""The learner's archive as one read model, above the domains whose records it assembles.

``service`` reads outcomes, credit lots, conversions, certificates and consents into one archive,
builds its export and erases a learner; ``endpoints`` serves them. The learners package below keeps
the person, the vault and who may read; it does not import this package.
"""
