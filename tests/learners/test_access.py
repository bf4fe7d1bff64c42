"""The learners package reads pending transfers through a projection of the catalog's table."""

from sqlalchemy import CheckConstraint

from creditbank.catalog.models import TransferRequest
from creditbank.learners import access


class TestTransferProjection:
    def test_the_projection_names_columns_of_the_transfer_table(self) -> None:
        transfers = TransferRequest.__table__  # type: ignore[attr-defined]
        assert access.TRANSFERS.name == transfers.name
        projected = {c.name for c in access.TRANSFERS.c}
        assert projected == {"id", "learner_id", "destination_institution_id", "status"}
        assert projected <= {c.name for c in transfers.c}

    def test_the_pending_status_is_one_the_table_allows(self) -> None:
        transfers = TransferRequest.__table__  # type: ignore[attr-defined]
        checks = [str(c.sqltext) for c in transfers.constraints if isinstance(c, CheckConstraint)]
        assert any(f"'{access.PENDING_TRANSFER}'" in check and "status" in check for check in checks)
