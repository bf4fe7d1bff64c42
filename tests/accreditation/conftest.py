"""The command-line fixtures (a migrated embedded database) for the catalogue command."""

from tests.test_cli import migrated, run  # noqa: F401 - fixtures
