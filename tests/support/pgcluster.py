"""A private PostgreSQL cluster for a test that must restart or crash its server.

The shared test server (tests/servers.py) is never stopped or restarted by a test; a test
that needs to do that starts a cluster of its own with :class:`PgCluster`: initdb into a new
directory, its own free port on 127.0.0.1, its unix socket in its own directory, trust
authentication, and no fsync (the cluster is thrown away; a crash of the server, as opposed
to the machine, loses nothing without it).

PostgreSQL refuses to run as root. When the tests run as root, every server command runs as
the ``postgres`` OS user (``runuser -u postgres --``), in a directory under the system's
temporary directory that the user owns (pytest's tmp_path is private to root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

#: How long pg_ctl may take to start, restart or stop the server, seconds.
PG_CTL_TIMEOUT = 60


def postgres_bin_dir() -> Path | None:
    """The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql
    (Debian's layout), or the directory of an initdb on PATH; None if there is none."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    found = [d for d in found if (d / "initdb").is_file()]
    if found:
        return max(found, key=lambda d: _version_key(d.parent.name))
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def cannot_run_reason() -> str | None:
    """Why this machine cannot run a private cluster, or None if it can."""
    if postgres_bin_dir() is None:
        return ("no PostgreSQL server binaries (initdb and pg_ctl under "
                "/usr/lib/postgresql/*/bin or on PATH): apt install postgresql")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root, and there is no runuser to start PostgreSQL as postgres"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no 'postgres' user to start PostgreSQL as"
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    """One throw-away PostgreSQL cluster: ``start()``, ``restart_immediate()``, ``destroy()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.host = "127.0.0.1"
        self.dbname = "postgres"
        self._as_postgres = os.geteuid() == 0
        self.user = "postgres" if self._as_postgres else pwd.getpwuid(os.geteuid()).pw_name
        self.root = Path(tempfile.mkdtemp(prefix="jobu-pgcluster-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.server_log = self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Output to a file, never a pipe: a server started by pg_ctl inherits pg_ctl's
        # descriptors, and a pipe it holds would never reach end-of-file.
        with (self.root / "commands.log").open("ab") as out:
            out.write(f"$ {' '.join(command)}\n".encode())
            out.flush()
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, cwd=self.root,
                                  timeout=PG_CTL_TIMEOUT + 30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}\n{self.logs()}")
        return done

    def logs(self) -> str:
        parts = []
        for path in (self.root / "commands.log", self.server_log):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)

    def start(self) -> PgCluster:
        """initdb, configure and start the server; returns once it accepts connections."""
        self.sockets.mkdir()
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# jobu test cluster\nport = {self.port}\n"
                       f"listen_addresses = '{self.host}'\n"
                       f"unix_socket_directories = '{self.sockets}'\n"
                       "fsync = off\nfull_page_writes = off\nmax_connections = 60\n"
                       "shared_buffers = 32MB\n")
        self._pg_ctl("start")
        return self

    def restart_immediate(self) -> None:
        """`pg_ctl restart -m immediate`: the server dies at once, as if it crashed (no
        checkpoint, every connection cut), and comes back after crash recovery."""
        self._pg_ctl("restart", "-m", "immediate")

    def _pg_ctl(self, action: str, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.server_log), "-w",
                  "-t", str(PG_CTL_TIMEOUT), *args, action)

    def destroy(self) -> None:
        """Stop the server (immediately) if it runs, and delete every file of the cluster."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._pg_ctl("stop", "-m", "immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        """The last resort: SIGKILL the postmaster this cluster started (its pid file)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
