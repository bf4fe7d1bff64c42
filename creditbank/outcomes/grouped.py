"""Group commit of single postings: the concurrent ``POST /api/v1/outcomes`` requests of a process
share one transaction, one ledger append and one commit.

Why: every posting appends to the one log, so every posting takes the log's counter row (and the
issuer's account) and holds it until its commit. One posting per transaction makes the postings of
a busy process queue on that row one commit (one fsync, one synchronous standby's answer) at a time,
each commit waiting for its thread to get the interpreter back; behind a batch chunk the queue
grows faster than it drains. A group pays the locks and the commit once for all its postings.

How this works (:class:`GroupCommit`, one per app):

* A request hands its posting to :meth:`GroupCommit.submit` and waits. The first to find no group
  running leads: it takes the waiting postings (up to :data:`MAX_GROUP`; never two with the same
  idempotency key, the later one waits for the next group), runs the group, answers every posting
  of it, and hands the lead to the first posting still waiting. Requests arriving meanwhile wait
  and form the next group, so a group holds whatever arrived while the last one ran.
* The group's transaction: each posting is staged (idempotency claim, outcome rows;
  :func:`creditbank.outcomes.service.stage_rows`) one after another, without savepoints. Should a
  posting have a problem of its own (an unknown learner, a reused key: a domain error), the
  transaction is rolled back and the group runs again with each posting in a savepoint of its own,
  so that posting is answered with its problem and undone alone while the others go on (a posting
  alone in its group needs no savepoint: its whole transaction is undone). Savepoints cost two
  statements and two round trips a posting, and postings with a problem are rare, so the group
  pays them only when one has. Any other failure (a lost connection) fails the group; then ONE
  ledger append for all the staged
  entries (accounts locked in id order, the log row last, gapless sequence numbers); then the
  postings' responses are stored under their keys (one statement for the group: the log's row is
  held meanwhile); then ONE commit.
* Every posting is answered only after that commit: an acknowledged posting is committed, with
  its idempotency record. Should the append, a response or the commit fail, each posting of the
  group is run again on its own, in its own transaction and thread (as a posting without groups
  runs): a commit that did in fact happen is then found by the idempotency key, and replayed.
"""

import threading
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from starlette.responses import Response

from creditbank.db import transaction
from creditbank.errors import CreditBankError
from creditbank.ledger import idempotency
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction
from creditbank.transparency import store

MAX_GROUP = 64  # postings per transaction at most: bounds the time the log row is held


@dataclass
class Answered:
    """A posting's response whose idempotency record the group stores with the other postings' in
    one statement (:func:`creditbank.ledger.idempotency.store_many`), before its commit."""

    response: Response
    record: idempotency.Answer


@dataclass
class Staged:
    """A posting written up to its ledger entries: the entries for the group's append, and how to
    answer once they are appended (called with their journal transactions, in the same order)."""

    entries: list[ledger.EntrySpec]
    respond: Callable[[Session, list[JournalTransaction]], Response | Answered]


@dataclass
class Posting:
    """One request's posting: ``key`` its idempotency key with its scope, ``stage`` its work in the
    group's transaction, ``alone`` the whole request on its own (its own transaction)."""

    key: tuple[str, str]
    stage: Callable[[Session], Staged]
    alone: Callable[[], Response]


@dataclass
class _Waiting:
    posting: Posting
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the next group, not answered
    alone: bool = False  # its group failed: run on its own
    response: Response | None = None
    error: BaseException | None = None


class GroupCommit:
    """Runs the postings handed to :meth:`submit` in groups, one transaction each (see above)."""

    def __init__(self, sessions: sessionmaker[Session], max_group: int = MAX_GROUP) -> None:
        self.sessions = sessions
        self.max_group = max_group
        self._mutex = threading.Lock()
        self._waiting: deque[_Waiting] = deque()
        self._leading = False
        self.groups = 0  # groups committed, and the postings they held (for tests and benchmarks)
        self.grouped = 0

    def submit(self, posting: Posting) -> Response:
        """Post ``posting`` in a group and return its response once the group has committed.

        Raises:
            whatever staging the posting raised (its own problem; nothing of it is kept).
        """
        waiting = _Waiting(posting)
        with self._mutex:
            self._waiting.append(waiting)
            lead, self._leading = not self._leading, True
        while True:
            if lead:
                self._lead()
            waiting.done.wait()
            if not waiting.lead:
                break
            waiting.done.clear()
            waiting.lead, lead = False, True
        if waiting.alone:
            return posting.alone()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.response is not None
        return waiting.response

    def _take(self) -> list[_Waiting]:
        """The next group, in arrival order (a second posting with a key already in it waits)."""
        group: list[_Waiting] = []
        keys: set[tuple[str, str]] = set()
        later: list[_Waiting] = []
        with self._mutex:
            while self._waiting and len(group) < self.max_group:
                waiting = self._waiting.popleft()
                if waiting.posting.key in keys:
                    later.append(waiting)
                    continue
                keys.add(waiting.posting.key)
                group.append(waiting)
            self._waiting.extendleft(reversed(later))
        return group

    def _lead(self) -> None:
        """Run one group (it holds the leader's own posting: the first waiting), answer it, and
        hand the lead to the first posting still waiting."""
        group = self._take()
        try:
            self._run(group)
        except Exception:  # the group as a whole failed: each posting on its own
            for waiting in group:
                if waiting.error is None:
                    waiting.response, waiting.alone = None, True
        finally:
            with self._mutex:
                following = self._waiting[0] if self._waiting else None
                self._leading = following is not None
                if following is not None:
                    following.lead = True
                    following.done.set()
            for waiting in group:
                waiting.done.set()

    def _run(self, group: list[_Waiting]) -> None:
        staged: list[tuple[_Waiting, Staged]] = []
        try:
            try:
                self._transaction(group, staged, savepoints=False)
            except _Again:  # a posting had a problem of its own: again, each in a savepoint
                staged.clear()
                for waiting in group:
                    waiting.error, waiting.response = None, None
                self._transaction(group, staged, savepoints=True)
        except _Undone:  # a group of one whose posting had a problem of its own: answered with it
            return
        with self._mutex:
            self.groups += 1
            self.grouped += len(staged)

    def _transaction(
        self, group: list[_Waiting], staged: list[tuple[_Waiting, Staged]], *, savepoints: bool
    ) -> None:
        # without savepoints, a posting's problem undoes the whole transaction: alone in its group,
        # it is answered with it (_Undone); else the group runs again with savepoints (_Again)
        alone = len(group) == 1
        nested = savepoints and not alone
        with contextmanager(transaction)(self.sessions) as session:
            for waiting in group:
                try:
                    with session.begin_nested() if nested else nullcontext():
                        staged.append((waiting, waiting.posting.stage(session)))
                except CreditBankError as exc:  # the posting's own problem: its savepoint is undone
                    waiting.error = exc
                    if alone:
                        raise _Undone from exc
                    if not nested:
                        raise _Again from exc
                # anything else (the connection lost, a database error) fails the group: every
                # posting then runs alone and meets the problem itself (a 503 to retry, not a 500
                # from a transaction that can no longer make savepoints)
            entries = [entry for _, one in staged for entry in one.entries]
            appended = ledger.append(session, store.DEFAULT_LOG, entries) if entries else []
            at = 0
            records: list[idempotency.Answer] = []
            for waiting, one in staged:
                mine = appended[at : at + len(one.entries)]
                at += len(one.entries)
                answer = one.respond(session, mine)
                if isinstance(answer, Answered):
                    records.append(answer.record)
                    answer = answer.response
                waiting.response = answer
            idempotency.store_many(session, records)


class _Undone(Exception):
    """Rolls back the transaction of a group of one whose posting had a problem of its own."""


class _Again(Exception):
    """Rolls back a group's transaction without savepoints in which a posting had a problem of its
    own: the group runs again, each posting in a savepoint."""
