"""Import every table model so that ``SQLModel.metadata`` knows them all (for Alembic and tests)."""

from sqlalchemy import MetaData

from creditbank.db import metadata


def import_all_models() -> MetaData:
    import importlib
    import pkgutil

    import creditbank

    for module in pkgutil.walk_packages(creditbank.__path__, "creditbank."):
        if module.name.endswith(".models"):
            importlib.import_module(module.name)
    return metadata
