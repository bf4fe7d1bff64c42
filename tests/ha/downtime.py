"""The parts of a failover's client-seen downtime, from the members' logs.

Each member's log (``var/ha/logs/pgN.log``) holds Patroni's lines and its PostgreSQL's (Patroni starts
PostgreSQL with its own stdout and stderr). From the kill to the first acknowledged write:

1. ``killed``: the killed postmaster's backends log "terminating connection due to unexpected
   postmaster exit" (they notice its death at once);
2. ``patroni_noticed``: the killed member's Patroni logs "Postgresql is not running" (on its first
   loop after the kill that sees the postmaster gone; ``lost_loops`` counts the loops in between that
   ended "Error communicating with PostgreSQL");
3. ``leader_key_released``: "Leader key released";
4. ``promote_requested``: another member's Patroni logs "promoted self to leader";
5. ``promoted``: that member's PostgreSQL logs "database system is ready to accept connections";
6. ``sync_standby_streaming``: the new leader's PostgreSQL logs that a standby "is now a synchronous
   standby" (strict mode: commits wait for that);
7. ``first_acknowledged_write``: the first 2xx answer to a posting sent after the kill.

Every time is in seconds after ``killed`` (or after the kill command returned, if no backend logged).
Patroni logs local time and PostgreSQL UTC: both are read as UTC (the cluster runs without ``TZ``).
"""

import calendar
import re
import time
from pathlib import Path
from typing import Any

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d{3})")


def _lines(log: Path, after: float) -> list[tuple[float, str]]:
    """(wall-clock time, line) of each timestamped line at or after ``after``."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        m = STAMP.match(line)
        if m is None:
            continue
        at = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
        if at >= after:
            found.append((at, line))
    return found


def _first(lines: list[tuple[float, str]], text: str) -> float | None:
    return next((at for at, line in lines if text in line), None)


def breakdown(
    logs: Path, killed: str, since: float, returned: float, first_ok: float | None
) -> dict[str, Any]:
    """The parts of one failover: ``killed`` is the member, ``since`` the wall-clock time just before
    the kill command ran, ``returned`` when it returned, ``first_ok`` the wall-clock time of the first
    acknowledged write after it."""
    own = _lines(logs / f"{killed}.log", since)
    kill = _first(own, "unexpected postmaster exit") or returned
    noticed = _first(own, "Postgresql is not running")
    events: dict[str, float | None] = {
        "killed": kill,
        "patroni_noticed": noticed,
        "leader_key_released": _first(own, "Leader key released"),
    }
    lost = sum(
        1 for at, line in own if "Error communicating with PostgreSQL" in line and at < (noticed or 1e18)
    )
    new_leader, promote = None, None
    for log in sorted(logs.glob("pg*.log")):
        if log.stem == killed:
            continue
        at = _first(_lines(log, since), "promoted self to leader")
        if at is not None and (promote is None or at < promote):
            new_leader, promote = log.stem, at
    events["promote_requested"] = promote
    if new_leader is not None and promote is not None:
        lines = _lines(logs / f"{new_leader}.log", promote)
        events["promoted"] = _first(lines, "database system is ready to accept connections")
        events["sync_standby_streaming"] = _first(lines, "is now a synchronous standby")
    events["first_acknowledged_write"] = first_ok
    out: dict[str, Any] = {
        name: (None if at is None else round(at - kill, 2)) for name, at in events.items() if name != "killed"
    }
    out["new_leader"] = new_leader
    out["lost_loops"] = lost
    out["kill_command_s"] = round(returned - since, 2)
    return out
