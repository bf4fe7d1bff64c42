"""Signs checkpoints in the background: within seconds of growth, and again periodically."""

import logging
import threading

from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.transparency import store
from creditbank.transparency.models import SignedCheckpoint

log = logging.getLogger("creditbank.checkpoints")


def ensure_default_log(ctx: AppContext) -> None:
    """Create the default log (and its key) on first start."""
    for session in transaction(ctx.sessions):
        store.ensure_log(
            session,
            ctx.secrets.master_key,
            store.DEFAULT_LOG,
            store.origin_for(ctx.settings.base_url, store.DEFAULT_LOG),
        )


def publish_all(ctx: AppContext, *, republish_after: float | None = None) -> list[SignedCheckpoint]:
    """One round: a checkpoint for every log that grew. Each log in its own transaction."""
    published: list[SignedCheckpoint] = []
    for session in transaction(ctx.sessions):
        log_ids = [lg.id for lg in store.list_logs(session)]
    for log_id in log_ids:
        for session in transaction(ctx.sessions):
            row = store.publish_checkpoint(
                session, ctx.secrets.master_key, log_id, republish_after=republish_after
            )
            if row is not None:
                published.append(row)
                log.info("checkpoint", extra={"fields": {"log": log_id, "size": row.size}})
    return published


class CheckpointPublisher:
    """A daemon thread that calls :func:`publish_all` every ``interval`` seconds until stopped."""

    def __init__(self, ctx: AppContext, interval: float, republish_after: float) -> None:
        self.ctx = ctx
        self.interval = interval
        self.republish_after = republish_after
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                publish_all(self.ctx, republish_after=self.republish_after)
            except Exception:  # keep publishing; the failure is logged
                log.exception("checkpoint round failed")
