"""Signs checkpoints in the background: within seconds of growth, and again periodically.

How this works:

* **One signer.** Every served process (each worker of each instance) runs a publisher thread, but
  on PostgreSQL only one of them signs. Each keeps one connection of its own (outside the request
  pool) and, each round, tries to take the session-level advisory lock :data:`PUBLISHER_LOCK` on
  it; the process that holds the lock signs, in transactions on that same connection, and the
  others only try again next round. A signature is therefore only ever made by the lock's holder,
  on the server where it holds it. When the holder dies its connection closes and the lock goes
  with it; after a failover the lock lived on the old primary and is gone, every publisher's
  connection breaks, and the first to reconnect (to the new leader) takes it. SQLite has one
  writer process anyway.
* **Durable before signed.** With ``CREDITBANK_CHECKPOINT_REQUIRES_SYNC_STANDBY`` (a Patroni
  cluster, docs/operations.md) a checkpoint is signed only when every entry it covers is flushed
  on the synchronous standby (:func:`creditbank.db.durable_on_sync_standby`): the standby is the
  only member Patroni promotes, so no failover can lose an entry a signed checkpoint covers, and
  the new leader's tree extends every checkpoint ever published. A round that cannot show this
  signs nothing and the next round tries again.
* Whoever signs, :func:`creditbank.transparency.store.publish_checkpoint` checks consistency with
  the latest checkpoint before signing, under a transaction-level advisory lock.
"""

import logging
import os
import threading
from collections.abc import Callable
from functools import partial

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.db import durable_on_sync_standby, own_connection_engine, transaction, unavailability
from creditbank.transparency import store
from creditbank.transparency.models import SignedCheckpoint

log = logging.getLogger("creditbank.checkpoints")

PUBLISHER_LOCK = 0x63625F7075626C  # "cb_publ": held, for as long as it lives, by the one publishing process
SYNC_STANDBY_WAIT_SECONDS = 2.0  # how long a round waits for the synchronous standby to catch up


def ensure_default_log(ctx: AppContext) -> None:
    """Create the default log (and its key) on first start. Processes starting at once on a new
    database race to create it; the one whose insert meets the winner's key reads the winner's log."""
    for attempt in (1, 2):
        try:
            for session in transaction(ctx.sessions):
                store.ensure_log(
                    session,
                    ctx.secrets.master_key,
                    store.DEFAULT_LOG,
                    store.origin_for(ctx.settings.base_url, store.DEFAULT_LOG),
                )
            return
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("the default log was created by another process starting at the same time")


def start_publisher(ctx: AppContext) -> "CheckpointPublisher":
    """A served process's publisher, started, after the default log is made sure of. A database
    unavailable now (a worker started during an outage) leaves that to the publisher's first round
    that reaches it, instead of failing the process's start (which would stop the whole server)."""
    ensured = True
    try:
        ensure_default_log(ctx)
    except DBAPIError as exc:
        reason = unavailability(exc)
        if reason is None:
            raise
        log.warning("default log not ensured now", extra={"fields": {"reason": reason}})
        ensured = False
    publisher = CheckpointPublisher(
        ctx, ctx.settings.checkpoint_interval_seconds, ctx.settings.republish_seconds, ensure_log=not ensured
    )
    publisher.start()
    return publisher


def sync_standby_check(ctx: AppContext) -> Callable[[Session], bool] | None:
    """The durability check the settings ask for (None: a single server, nothing to wait for)."""
    if not ctx.settings.checkpoint_requires_sync_standby or ctx.engine.dialect.name != "postgresql":
        return None
    return partial(durable_on_sync_standby, timeout=SYNC_STANDBY_WAIT_SECONDS)


def publish_all(
    ctx: AppContext,
    *,
    republish_after: float | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> list[SignedCheckpoint]:
    """One round: a checkpoint for every log that grew. Each log in its own transaction, from
    ``sessions`` (default: the context's)."""
    sessions = sessions or ctx.sessions
    durable = sync_standby_check(ctx)
    published: list[SignedCheckpoint] = []
    for session in transaction(sessions):
        log_ids = [lg.id for lg in store.list_logs(session)]
    for log_id in log_ids:
        for session in transaction(sessions):
            row = store.publish_checkpoint(
                session, ctx.secrets.master_key, log_id, republish_after=republish_after, durable=durable
            )
            if row is not None:
                published.append(row)
                log.info(
                    "checkpoint", extra={"fields": {"log": log_id, "size": row.size, "pid": os.getpid()}}
                )
    return published


class CheckpointPublisher:
    """A daemon thread that calls :func:`publish_all` every ``interval`` seconds until stopped,
    while this process holds :data:`PUBLISHER_LOCK` (PostgreSQL; see the module docstring)."""

    def __init__(
        self, ctx: AppContext, interval: float, republish_after: float, *, ensure_log: bool = False
    ) -> None:
        self.ctx = ctx
        self.ensure_log = ensure_log  # make sure of the default log first (not done at start)
        self.interval = interval
        self.republish_after = republish_after
        self.holds_lock = False
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=10)
        self._release()

    def run_once(self) -> list[SignedCheckpoint]:
        """One round as the thread runs it: a failure is logged and drops the connection (and with
        it the lock), so the next round starts afresh, on whichever server now takes writes."""
        try:
            return self.round()
        except Exception as exc:  # keep publishing; the failure is logged
            reason = unavailability(exc)
            if reason is None:
                log.exception("checkpoint round failed")
            else:  # a failover or a restart: expected, and over in seconds
                log.warning("checkpoint round failed", extra={"fields": {"reason": reason}})
            self._release()
            return []

    def round(self) -> list[SignedCheckpoint]:
        """One round: publish if this process is (or now becomes) the signer.

        Raises: whatever the database raises; the caller drops the connection (and the lock).
        """
        if self.ensure_log:
            ensure_default_log(self.ctx)
            self.ensure_log = False
        if self.ctx.engine.dialect.name != "postgresql":
            return publish_all(self.ctx, republish_after=self.republish_after)
        connection = self._own_connection()
        if not self.holds_lock:
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": PUBLISHER_LOCK})
            self.holds_lock = bool(taken.scalar_one())
            connection.commit()
            if not self.holds_lock:
                return []
            log.info("checkpoint signer", extra={"fields": {"pid": os.getpid()}})
        assert self._sessions is not None
        return publish_all(self.ctx, republish_after=self.republish_after, sessions=self._sessions)

    def _own_connection(self) -> Connection:
        if self._connection is None:
            if self._engine is None:
                self._engine = own_connection_engine(self.ctx.engine)
            self._connection = self._engine.connect()
            # one session factory per connection, not per round: every sessionmaker makes a Session
            # subclass of its own, with SQLAlchemy's event registry for it (a few kB that only a full
            # garbage collection frees), and a round runs every checkpoint interval
            self._sessions = sessionmaker(
                bind=self._connection, class_=Session, expire_on_commit=False, autoflush=False
            )
        return self._connection

    def _release(self) -> None:
        """Close the connection; the lock, if held, goes with it."""
        connection, self._connection, self.holds_lock = self._connection, None, False
        self._sessions = None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # a connection to a server that is gone
                log.debug("closing the publisher's connection failed", exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()
