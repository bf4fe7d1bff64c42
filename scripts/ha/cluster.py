"""A three-member Patroni cluster of PostgreSQL 15 with a single-node etcd, on this one machine.

    scripts/ha/cluster up            start (or resume) it, wait until healthy, print the service's URL
    scripts/ha/cluster status        members and roles (patronictl list)
    scripts/ha/cluster url           print the service's CREDITBANK_DATABASE_URL
                                     (--read: its CREDITBANK_READ_DATABASE_URL, standbys first)
    scripts/ha/cluster kill-leader   SIGKILL the leader's postmaster; print the member's name
                                     (--diverge: cut it off from its standbys first, so that it
                                     rejoins through pg_rewind)
    scripts/ha/cluster wait          wait until healthy again (a leader, a Sync Standby, a replica)
    scripts/ha/cluster down [--purge]  stop everything it started (--purge: and delete var/ha)
    scripts/ha/cluster supervise -- CMD...  run CMD (each member's Patroni) under a reaper (below)

How this works:

* Everything lives under ``var/ha/`` (``CREDITBANK_HA_DIR``; when the ``postgres`` user cannot
  reach it, as in a checkout under /root, a new directory under /var/tmp that var/ha links to): per
  member ``pgN/`` (Patroni's configuration, the data directory, the socket directory, a pgpass
  file), ``etcd/``, ``logs/``, ``pids/`` and ``secrets.json`` (the passwords). Every address is
  127.0.0.1, every port private (``CREDITBANK_HA_PORT_BASE``, 55600 by default: PostgreSQL
  +1..+3, Patroni's REST API +11..+13, etcd +79 and +80).
* PostgreSQL refuses to run as root: as root, etcd and Patroni (which runs PostgreSQL) are started as
  the ``postgres`` user with ``setpriv``, which execs, so the PID recorded is the process's own.
  Run by another user, they run as that user.
* The choices that matter, each measured on this machine (docs/operations.md, docs/scaling.md):
  ``etcd3:`` (Debian's etcd 3.4 serves only the v3 API); ``primary_start_timeout: 0`` (otherwise a
  killed leader postmaster is restarted in place and never fails over); ``loop_wait: 2`` (nothing
  wakes Patroni when its postmaster dies, it notices on its next loop: failover in ~3-4 s instead of
  5-10 s); ``synchronous_mode_strict`` (a commit is acknowledged only once it is on a second machine,
  also in the seconds after a failover when the new leader has no standby yet: commits wait then
  instead of living on one machine); ``use_pg_rewind`` with ``wal_log_hints`` (the killed leader
  rejoins as a replica); no replication slots (the new leader would make the remaining standby's slot
  only a loop after its promotion, and strict-mode commits would wait for it meanwhile).
* Each Patroni runs under ``cluster supervise``, a small parent that is the *child subreaper* of its
  processes and reaps each one the moment it exits. Patroni starts PostgreSQL detached (through an
  intermediate process that exits), so the postmaster is an orphan; without a subreaper its parent is
  PID 1, and an init that reaps orphans late (this machine's reaps them 1-1.5 s after they die) leaves
  a killed postmaster a zombie meanwhile. Patroni takes a zombie for a running postmaster: in every
  measured failover its first loop after the kill failed ("Error communicating with PostgreSQL") and
  only the next one, ``loop_wait`` later, failed over (2 s of the 5-6 s clients saw).
* Only the Python standard library: this runs before the project's virtualenv exists.
"""

import argparse
import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
HA_LINK = Path(os.environ.get("CREDITBANK_HA_DIR", ROOT / "var" / "ha")).absolute()
HA_DIR = HA_LINK.resolve()  # var/ha may be a link to a directory the postgres user can reach
PORT_BASE = int(os.environ.get("CREDITBANK_HA_PORT_BASE", "55600"))
PG_BIN = Path(os.environ.get("CREDITBANK_HA_PG_BIN", "/usr/lib/postgresql/15/bin"))
SCOPE = "creditbank"
MEMBERS = ("pg1", "pg2", "pg3")
HOST = "127.0.0.1"
APP_ROLE = "creditbank"
APP_DATABASE = "creditbank"
HEALTHY_TIMEOUT = float(os.environ.get("CREDITBANK_HA_TIMEOUT", "180"))

# Patroni's timing: see the module docstring. ttl bounds how long a lost *node* (Patroni gone too)
# keeps the leader key; retry_timeout must stay below ttl - loop_wait.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 20, 2, 5


class ClusterError(Exception):
    """Something the operator has to look at; the message says what."""


@dataclass(frozen=True)
class Member:
    name: str
    index: int

    @property
    def pg_port(self) -> int:
        return PORT_BASE + self.index

    @property
    def api_port(self) -> int:
        return PORT_BASE + 10 + self.index

    @property
    def home(self) -> Path:
        return HA_DIR / self.name

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config(self) -> Path:
        return self.home / "patroni.yml"


def members() -> list[Member]:
    return [Member(name, i + 1) for i, name in enumerate(MEMBERS)]


ETCD_CLIENT_PORT = PORT_BASE + 79
ETCD_PEER_PORT = PORT_BASE + 80


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- running as the server user ------------------------------------------------------------------


def server_user() -> pwd.struct_passwd:
    """``postgres`` when run as root (PostgreSQL refuses root), else whoever runs this."""
    if os.geteuid() == 0:
        try:
            return pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ClusterError("no 'postgres' user: install the postgresql package") from exc
    return pwd.getpwuid(os.geteuid())


def as_server_user(cmd: Sequence[str], *, die_with_parent: bool = False) -> list[str]:
    """``cmd`` as the server user; with ``die_with_parent``, killed when its parent dies (the parent
    death signal is cleared when the user changes, so setpriv sets it again after the change)."""
    if os.geteuid() != 0:
        return list(cmd)
    dies = ["--pdeathsig=KILL"] if die_with_parent else []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *dies, "--", *cmd]


def owned_dir(path: Path) -> Path:
    """A directory owned by the server user, mode 700."""
    path.mkdir(parents=True, exist_ok=True)
    user = server_user()
    os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """A file only the server user can read (configuration holds passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    user = server_user()
    os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o600)


def reachable(path: Path) -> bool:
    """Whether the server user can enter ``path`` (every directory above it must let it through)."""
    if os.geteuid() != 0:
        return True
    return subprocess.run(as_server_user(["test", "-x", str(path)]), check=False).returncode == 0


def choose_home() -> None:
    """Use var/ha if the server user can reach it; else (a checkout under /root, say) a directory
    under /var/tmp, with var/ha a symbolic link to it."""
    global HA_DIR  # noqa: PLW0603 - decided once, before anything is started
    HA_LINK.parent.mkdir(parents=True, exist_ok=True)
    if HA_LINK.is_symlink() or reachable(HA_LINK.parent):
        HA_DIR = HA_LINK.resolve()
        return
    HA_DIR = Path(tempfile.mkdtemp(prefix="creditbank-ha-", dir="/var/tmp"))
    HA_LINK.symlink_to(HA_DIR, target_is_directory=True)
    say(
        f"the postgres user cannot enter {HA_LINK.parent}: the cluster lives in {HA_DIR} (var/ha links there)"
    )


# --- processes -------------------------------------------------------------------------------------


def pid_file(name: str) -> Path:
    return HA_DIR / "pids" / f"{name}.pid"


def running_pid(name: str) -> int | None:
    try:
        pid = int(pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    # a PID can be reused: it must still be our command
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if (b"patroni" in cmdline or b"etcd" in cmdline) else None


def spawn(name: str, cmd: Sequence[str], *, supervised: bool = False) -> int:
    """Start ``cmd`` as the server user, in its own session with its own stdin/stdout/stderr; record
    its PID. With ``supervised``, under ``cluster supervise`` (run by the caller's user, which can
    reap and signal the server user's processes); the PID recorded is then the supervisor's."""
    log = HA_DIR / "logs" / f"{name}.log"
    if supervised:
        here = str(Path(__file__).resolve())
        full = [sys.executable, here, "supervise", "--", *as_server_user(cmd, die_with_parent=True)]
    else:
        full = as_server_user(cmd)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            full,
            cwd=HA_DIR,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(HA_DIR), "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file(name).write_text(f"{process.pid}\n")
    return process.pid


PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def supervise(cmd: Sequence[str]) -> int:
    """Run ``cmd`` as a child of this process, which is the subreaper of everything ``cmd`` starts:
    an orphaned descendant (Patroni's detached postmaster, the backends of a killed postmaster) becomes
    this process's child and is reaped as soon as it exits, so nobody mistakes it for a running
    process (see the module's docstring). SIGTERM, SIGINT, SIGQUIT and SIGHUP are passed on to ``cmd``;
    if this process is killed, ``cmd`` is killed too. Returns ``cmd``'s exit code."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    child = subprocess.Popen(list(cmd), preexec_fn=_die_with_parent)  # noqa: PLW1509 - single-threaded

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:  # pragma: no cover - cmd is a child until it is reaped here
            return 1
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode


def stop(names: Sequence[str], timeout: float) -> None:
    """SIGTERM to each (Patroni then stops its PostgreSQL), all at once; SIGKILL after ``timeout``."""
    pids = {name: running_pid(name) for name in names}
    for pid in pids.values():
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(running_pid(n) == p for n, p in pids.items() if p):
        time.sleep(0.2)
    for name, pid in pids.items():
        if pid is not None and running_pid(name) == pid:
            say(f"{name} did not stop in {timeout:.0f} s: SIGKILL")
            os.kill(pid, signal.SIGKILL)
        pid_file(name).unlink(missing_ok=True)


def postmaster_pid(member: Member) -> int | None:
    try:
        pid = int((member.data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError, PermissionError):
        return None
    return pid


# --- configuration ---------------------------------------------------------------------------------


def load_secrets(*, create: bool = True) -> dict[str, str]:
    path = HA_DIR / "secrets.json"
    if path.exists():
        found: dict[str, str] = json.loads(path.read_text())
        return found
    if not create:
        raise ClusterError("no cluster here: run scripts/ha/cluster up")
    values = {name: secrets.token_urlsafe(24) for name in ("superuser", "replication", APP_ROLE)}
    write_private(path, json.dumps(values, indent=2) + "\n")
    return values


def patroni_config(member: Member, passwords: dict[str, str]) -> dict[str, Any]:
    home = member.home
    return {
        "scope": SCOPE,
        "namespace": "/creditbank-ha/",
        "name": member.name,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"{HOST}:{member.api_port}",
            "connect_address": f"{HOST}:{member.api_port}",
        },
        # etcd3, not etcd: Debian's etcd 3.4 answers only the v3 API (the v2 client waits forever)
        "etcd3": {"hosts": [f"{HOST}:{ETCD_CLIENT_PORT}"]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                # only the Sync Standby may be promoted, and it holds every acknowledged commit;
                # what it lacks is WAL the leader wrote but never got confirmed (a leader cut off
                # from its standbys, then lost). With the default 1 MB, that WAL (an upload's rows
                # in flight) made the standby "too far behind" and left the cluster without a
                # leader; up to wal_keep_size it may be promoted, and the old leader rewinds
                "maximum_lag_on_failover": 256 * 1024 * 1024,
                # fail over when the leader's postmaster dies, instead of restarting it in place
                "primary_start_timeout": 0,
                "synchronous_mode": True,
                "synchronous_mode_strict": True,
                "synchronous_node_count": 1,
                "postgresql": {
                    "use_pg_rewind": True,
                    # no replication slots: the leader makes a member's slot only on its first loop
                    # after the promotion has been seen (Patroni polls for it once a second), and
                    # until then the remaining standby cannot stream and strict-mode commits wait:
                    # 1.5 s of each measured failover. wal_keep_size keeps the WAL a standby or a
                    # rewound old leader needs, and a member gone for longer cannot pin the leader's
                    # WAL (with slots it does, until the disk is full)
                    "use_slots": False,
                    "parameters": {
                        "wal_level": "replica",
                        "wal_log_hints": "on",
                        "synchronous_commit": "on",
                        "max_connections": 300,
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "256MB",
                        "hot_standby": "on",
                        "shared_buffers": "128MB",
                        # a replica told to follow the new leader retries its WAL stream after this
                        # long (default 5 s: the first try fails until the leader has made its slot)
                        "wal_retrieve_retry_interval": "500ms",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, "no-locale", "data-checksums"],
        },
        "postgresql": {
            "listen": f"{HOST}:{member.pg_port}",
            "connect_address": f"{HOST}:{member.pg_port}",
            "data_dir": str(member.data_dir),
            "bin_dir": str(PG_BIN),
            "pgpass": str(home / "pgpass"),
            "use_unix_socket": True,
            "authentication": {
                "superuser": {"username": "postgres", "password": passwords["superuser"]},
                "replication": {"username": "replicator", "password": passwords["replication"]},
            },
            "parameters": {"unix_socket_directories": str(home / "run")},
            # the socket directory is the server user's alone (mode 700): trust there; passwords on TCP
            "pg_hba": [
                "local all all trust",
                f"host replication replicator {HOST}/32 scram-sha-256",
                f"host all all {HOST}/32 scram-sha-256",
            ],
        },
        "watchdog": {"mode": "off"},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def database_url(passwords: dict[str, str], *, read: bool = False) -> str:
    """The multi-host URL SQLAlchemy accepts and psycopg hands to libpq: libpq tries each host and
    keeps the one that accepts writes. With ``read``, the URL of the reads that may be stale
    (``CREDITBANK_READ_DATABASE_URL``): a standby if one answers, in random order so the replicas
    share the reads, else the leader."""
    hosts = "&".join(f"host={HOST}:{m.pg_port}" for m in members())
    attrs = (
        "target_session_attrs=prefer-standby&load_balance_hosts=random"
        if read
        else "target_session_attrs=read-write"
    )
    return f"postgresql+psycopg://{APP_ROLE}:{passwords[APP_ROLE]}@/{APP_DATABASE}?{hosts}&{attrs}&connect_timeout=3"


# --- the cluster's state ---------------------------------------------------------------------------


def get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own loopback URL
        return json.load(response)


def cluster_view() -> list[dict[str, Any]]:
    """Members as Patroni's REST API reports them (asking each member until one answers)."""
    for member in members():
        try:
            found: list[dict[str, Any]] = get_json(f"http://{HOST}:{member.api_port}/cluster")["members"]
        except (OSError, ValueError, KeyError):
            continue
        return found
    return []


def healthy(view: list[dict[str, Any]]) -> bool:
    """A running leader, a running Sync Standby and another running replica, both streaming."""
    running = [m for m in view if m.get("state") in {"running", "streaming"}]
    roles = sorted(str(m.get("role")) for m in running)
    lags_known = all(isinstance(m.get("lag", 0), int) for m in running if m.get("role") != "leader")
    return roles == ["leader", "replica", "sync_standby"] and lags_known


def leader(view: list[dict[str, Any]]) -> Member | None:
    for m in view:
        if m.get("role") == "leader" and m.get("state") == "running":
            return next(x for x in members() if x.name == m["name"])
    return None


def wait_healthy(timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    view: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        view = cluster_view()
        if healthy(view):
            return view
        time.sleep(0.5)
    raise ClusterError(
        f"cluster not healthy after {timeout:.0f} s: {json.dumps(view)}; logs in {HA_DIR}/logs"
    )


def wait_etcd(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get_json(f"http://{HOST}:{ETCD_CLIENT_PORT}/health").get("health") == "true":
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise ClusterError(f"etcd did not become healthy; see {HA_DIR}/logs/etcd.log")


def psql(member: Member, passwords: dict[str, str], sql: str, database: str = "postgres") -> str:
    result = subprocess.run(
        [
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-p",
            str(member.pg_port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ],
        env={**os.environ, "PGPASSWORD": passwords["superuser"], "PGCONNECT_TIMEOUT": "5"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ClusterError(f"psql on {member.name}: {result.stderr.strip()}")
    return result.stdout.strip()


def ensure_application_role(passwords: dict[str, str]) -> None:
    """The service's role and database (Patroni 3.0.2 still has ``bootstrap.users``; later versions
    do not, so they are made with SQL). The role reads ``pg_stat_replication`` (``pg_read_all_stats``)
    so that the checkpoint publisher can see what the synchronous standby holds."""
    view = wait_healthy(HEALTHY_TIMEOUT)
    primary = leader(view)
    if primary is None:  # pragma: no cover - wait_healthy saw one
        raise ClusterError("no leader")
    password = passwords[APP_ROLE].replace("'", "''")
    psql(
        primary,
        passwords,
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
        f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{password}'; END IF; END $$; "
        f"GRANT pg_read_all_stats TO {APP_ROLE};",
    )
    exists = psql(primary, passwords, f"SELECT 1 FROM pg_database WHERE datname = '{APP_DATABASE}'")  # noqa: S608 - constants
    if not exists:
        psql(primary, passwords, f"CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}")


# --- commands --------------------------------------------------------------------------------------


def up() -> None:
    for tool in ("patroni", "etcd"):
        if shutil.which(tool) is None:
            raise ClusterError(
                f"{tool} not found: run scripts/system-deps.sh --ha (apt-get install patroni etcd-server)"
            )
    if not (PG_BIN / "postgres").exists():
        raise ClusterError(f"PostgreSQL 15 not found in {PG_BIN}")
    choose_home()
    HA_DIR.mkdir(parents=True, exist_ok=True)
    owned_dir(HA_DIR)
    for sub in ("logs", "pids", "etcd"):
        owned_dir(HA_DIR / sub)
    passwords = load_secrets()
    started = time.monotonic()
    if running_pid("etcd") is None:
        etcd = shutil.which("etcd") or "etcd"
        spawn(
            "etcd",
            [
                etcd,
                "--name", "creditbank-ha",
                "--data-dir", str(HA_DIR / "etcd" / "data"),
                "--listen-client-urls", f"http://{HOST}:{ETCD_CLIENT_PORT}",
                "--advertise-client-urls", f"http://{HOST}:{ETCD_CLIENT_PORT}",
                "--listen-peer-urls", f"http://{HOST}:{ETCD_PEER_PORT}",
                "--initial-advertise-peer-urls", f"http://{HOST}:{ETCD_PEER_PORT}",
                "--initial-cluster", f"creditbank-ha=http://{HOST}:{ETCD_PEER_PORT}",
                "--initial-cluster-state", "new",
                "--listen-metrics-urls", "",
            ],
        )  # fmt: skip
    wait_etcd(30)
    for member in members():
        owned_dir(member.home)
        owned_dir(member.home / "run")
        write_private(member.config, json.dumps(patroni_config(member, passwords), indent=2) + "\n")
        if running_pid(member.name) is None:
            patroni = shutil.which("patroni") or "patroni"
            spawn(member.name, [patroni, str(member.config)], supervised=True)
    ensure_application_role(passwords)
    url = database_url(passwords)
    write_private(HA_DIR / "database-url", url + "\n")
    say(f"cluster healthy in {time.monotonic() - started:.1f} s (a leader, a Sync Standby, a replica)")
    print(url, flush=True)


def status() -> None:
    config = members()[0].config
    if not config.exists():
        raise ClusterError("no cluster: run scripts/ha/cluster up")
    subprocess.run([shutil.which("patronictl") or "patronictl", "-c", str(config), "list"], check=False)


def kill_leader(*, diverge: bool = False) -> None:
    """SIGKILL the leader's postmaster. With ``diverge``, cut the leader off from its standbys
    first and let it write WAL they never receive, so that it must rejoin through ``pg_rewind``.

    A leader killed under load usually dies with every WAL record already streamed: its standbys
    hold all of it and it rejoins without a rewind (it did in every run of the rehearsal). A leader
    that loses its link to the standbys and then dies (a network partition, then a crash) is the
    case ``pg_rewind`` exists for: its WAL runs past the point where the new leader's timeline
    forks. Here its WAL senders are stopped (SIGSTOP), a ``CHECKPOINT`` (and any commit the service
    sends meanwhile, which waits for a standby that no longer hears it, unacknowledged) is written
    on the leader alone, then the postmaster and the stopped senders are killed.
    """
    primary = leader(cluster_view())
    if primary is None:
        raise ClusterError("no running leader")
    pid = postmaster_pid(primary)
    if pid is None:
        raise ClusterError(f"{primary.name}: no postmaster.pid")
    senders: list[int] = []
    if diverge:
        passwords = load_secrets(create=False)
        found = psql(primary, passwords, "SELECT pid FROM pg_stat_replication")
        senders = [int(line) for line in found.split() if line.strip()]
        for sender in senders:
            os.kill(sender, signal.SIGSTOP)
        psql(primary, passwords, "CHECKPOINT")
        time.sleep(0.5)  # commits in flight write their WAL on the leader alone
    os.kill(pid, signal.SIGKILL)
    for sender in senders:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sender, signal.SIGKILL)
    how = f" after cutting off its {len(senders)} WAL senders" if diverge else ""
    say(f"SIGKILL to the postmaster of {primary.name} (PID {pid}, port {primary.pg_port}){how}")
    print(primary.name, flush=True)


def down(purge: bool) -> None:
    stop([m.name for m in members()], timeout=30)
    for member in members():  # a postmaster whose Patroni was killed
        pid = postmaster_pid(member)
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)
    stop(["etcd"], timeout=15)
    if purge:
        shutil.rmtree(HA_DIR, ignore_errors=True)
        if HA_LINK.is_symlink():
            HA_LINK.unlink()
        say(f"removed {HA_DIR}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/ha/cluster", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the cluster, wait until healthy, print the database URL")
    commands.add_parser("status", help="members and roles")
    url_parser = commands.add_parser("url", help="print the database URL")
    url_parser.add_argument(
        "--read", action="store_true", help="the URL of reads that may be stale (a standby first)"
    )
    kill = commands.add_parser("kill-leader", help="SIGKILL the leader's postmaster")
    kill.add_argument(
        "--diverge",
        action="store_true",
        help="first cut the leader off from its standbys and write WAL on it alone (it must rejoin "
        "with pg_rewind)",
    )
    wait = commands.add_parser("wait", help="wait until a leader, a Sync Standby and a replica run")
    wait.add_argument("--timeout", type=float, default=HEALTHY_TIMEOUT)
    stop_parser = commands.add_parser("down", help="stop everything the cluster started")
    stop_parser.add_argument(
        "--purge", action="store_true", help="also delete var/ha (data, logs, passwords)"
    )
    supervise_parser = commands.add_parser(
        "supervise", help="run a command (a member's Patroni) as the reaper of all it starts"
    )
    supervise_parser.add_argument("cmd", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "supervise":
        return supervise(args.cmd)
    try:
        if args.command == "up":
            up()
        elif args.command == "status":
            status()
        elif args.command == "url":
            print(database_url(load_secrets(create=False), read=args.read))
        elif args.command == "kill-leader":
            kill_leader(diverge=args.diverge)
        elif args.command == "wait":
            wait_healthy(args.timeout)
        elif args.command == "down":
            down(args.purge)
    except ClusterError as exc:
        say(f"cluster: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
