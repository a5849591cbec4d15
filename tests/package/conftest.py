"""The Debian package, built in a clean room and proved in a booted systemd of Debian 12 and 13.

The shell part is packaging/e2e/container.sh (root filesystems with mmdebstrap, cached; boot with
systemd-nspawn; nsenter; cleanup). Everything checked is here, as pytest tests:

* `deb` (session): dist/package-tests/jobu_<version>_all.deb, built by packaging/build-deb.sh in
  a Debian 12 root filesystem that has only the Build-Depends, never on the host.
* `ct` (session, one per release): a booted container of that release, where
  `apt install ./jobu_<version>_all.deb` ran exactly as an operator runs it. Tests share it, so
  each one leaves it as it found it: `config` and `dropin` restore what they change, and
  `services_up` starts the core services a test needs.
* `fresh_container` (per test): a factory for containers of their own, for the tests that remove,
  purge or upgrade the package.

A new unit joins the suite with one line in UNITS; test_admin_service.py and
test_queued_service.py check what jobu-admin and jobu-queued do once an administrator enabled
them. `pytest tests/package -k watchdog` runs one check, on both releases; `-k debian13` all of
them on Debian 13.

It needs root and a Debian host whose apt reaches Debian's registry. Under CI=true a machine that
cannot run it fails; elsewhere the tests are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINER_SH = ROOT / "packaging" / "e2e" / "container.sh"
BUILD_DEB = ROOT / "packaging" / "build-deb.sh"
OUT = ROOT / "dist" / "package-tests"

# Debian release codename -> (test id, the major version apt names its archive with).
RELEASES = {"bookworm": ("debian12", "12"), "trixie": ("debian13", "13")}


@dataclass(frozen=True)
class Unit:
    name: str
    daemon: bool = True        # a jobu daemon (Type=notify, WATCHDOG=1, SIGHUP reload, exit 78)
    enabled: bool = True       # enabled and started by the package
    core: bool = True          # wanted by jobu.target


# Every unit the package ships; a template is listed with the instance the tests use.
UNITS = [
    Unit("jobu-dispatcher.service"),
    Unit("jobu-worker.service"),
    Unit("jobu-worker@e2e.service", enabled=False, core=False),
    Unit("jobu-queued.service", enabled=False, core=False),
    Unit("jobu-admin.service", enabled=False, core=False),
    Unit("jobu.target", daemon=False),
]
CORE_SERVICES = [u.name for u in UNITS if u.core and u.daemon]
# jobu's runtime dependencies: none may be in the root filesystem before `apt install`.
DEPENDENCIES = ["python3-croniter", "python3-marshmallow", "python3-yaml", "python3-psycopg",
                "python3-psycopg-pool", "python3-pymysql", "python3-sdnotify", "python3-flask",
                "gunicorn", "python3-kafka", "python3-apispec", "python3-prometheus-client"]


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # SIGTERM (a timeout, CI's limit) as Ctrl-C: pytest then runs the fixtures' teardown, which
    # stops the containers.
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    config.addinivalue_line(
        "markers", "package: builds the .deb and tests it installed in booted Debian 12 and 13 "
                   "systemd containers (root, apt; a few minutes)")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(item.fspath).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.package)
            item.add_marker(pytest.mark.slow)


def _why_it_cannot_run() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the package tests need Linux"
    if os.geteuid() != 0:
        return "the package tests need root (systemd-nspawn, namespaces, cgroups, apt)"
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return "the package tests need a Debian host (apt-get, dpkg)"
    return None


@pytest.fixture(scope="session", autouse=True)
def _package_tests_can_run():
    reason = _why_it_cannot_run()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)


def _shell(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.3) -> object:
    """Poll `predicate` until it returns something true; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}", pytrace=False)
        time.sleep(interval)


class Container:
    """A booted systemd container of one Debian release."""

    def __init__(self, release: str, debs: Path) -> None:
        self.release = release
        self.major = RELEASES[release][1]
        self.name = f"jobu-ct-{RELEASES[release][0]}-{uuid.uuid4().hex[:8]}"
        self.debs = debs
        self.apt_log = ""        # the output of `apt install ./jobu_*.deb` (install)
        self.preinstalled = ""   # jobu's dependencies found before it (ct: must be none)
        self.planned = ""        # `apt-get install --simulate ./jobu_*.deb` before it (ct)

    # -- lifecycle ------------------------------------------------------------------------
    def up(self) -> Container:
        started = time.monotonic()
        result = _shell(["bash", str(CONTAINER_SH), "up", self.name, self.release,
                         "--owner", str(os.getpid()), "--bind-ro", f"{self.debs}:/srv/debs"],
                        timeout=900)
        if result.returncode != 0:
            pytest.fail(f"container.sh up {self.release} failed:\n{result.stderr[-3000:]}",
                        pytrace=False)
        print(f"{self.name}: booted in {time.monotonic() - started:.1f}s "
              f"({result.stderr.strip().splitlines()[-1]})")
        return self

    def down(self) -> None:
        _shell(["bash", str(CONTAINER_SH), "down", self.name], timeout=120)

    # -- commands -------------------------------------------------------------------------
    def run(self, cmd: str | list[str], *, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run `cmd` (a list, or a string for sh -c) in the container; its output as text.
        With check, a non-zero exit fails the test, showing the command and its output."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        result = subprocess.run(
            ["bash", str(CONTAINER_SH), "exec", self.name, "--timeout", str(int(timeout)), "--",
             *argv], input=input, stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout + 20)
        if check and result.returncode != 0:
            pytest.fail(f"in {self.release}: {shlex.join(argv)} exited {result.returncode}\n"
                        f"{result.stdout[-3000:]}{result.stderr[-3000:]}", pytrace=False)
        return result

    def out(self, cmd: str | list[str], **kwargs) -> str:
        return self.run(cmd, **kwargs).stdout.strip()

    def ok(self, cmd: str | list[str], **kwargs) -> bool:
        return self.run(cmd, check=False, **kwargs).returncode == 0

    # -- systemd --------------------------------------------------------------------------
    def unit_property(self, unit: str, name: str) -> str:
        return self.out(["systemctl", "show", "--value", "-p", name, unit], check=False)

    def unit_state(self, unit: str) -> str:
        props = self.out(["systemctl", "show", "-p", "ActiveState", "-p", "SubState", unit],
                         check=False)
        values = dict(line.split("=", 1) for line in props.splitlines() if "=" in line)
        return f"{values.get('ActiveState', '?')}/{values.get('SubState', '?')}"

    def is_active(self, unit: str) -> str:
        return self.out(["systemctl", "is-active", unit], check=False)

    def cursor(self) -> str:
        """The journal's position now, for journal(since=...)."""
        for line in self.out(["journalctl", "-n", "1", "-o", "export", "--no-pager"]).splitlines():
            if line.startswith("__CURSOR="):
                return line.removeprefix("__CURSOR=")
        return ""

    def journal(self, unit: str | None = None, since: str | None = None, *,
                own_lines: bool = False, output: str = "cat") -> str:
        """The journal's lines (of `unit`; after the cursor `since`). own_lines: only what the
        unit's processes wrote, not systemd's lines about the unit."""
        argv = ["journalctl", "--no-pager", "-o", output]
        if unit:
            argv.append(f"_SYSTEMD_UNIT={unit}" if own_lines else f"--unit={unit}")
        if since:
            argv.append(f"--after-cursor={since}")
        return self.out(argv, check=False)

    def why(self, unit: str) -> str:
        """A unit's state and its last journal lines, for a failure message."""
        return (f"{unit}: {self.unit_state(unit)}, Result={self.unit_property(unit, 'Result')}, "
                f"ExecMainStatus={self.unit_property(unit, 'ExecMainStatus')}, "
                f"NRestarts={self.unit_property(unit, 'NRestarts')}\n"
                + self.out(["journalctl", "-u", unit, "-n", "15", "-o", "cat", "--no-pager"],
                           check=False))

    def start(self, *units: str) -> None:
        for unit in units:
            self.run(["systemctl", "reset-failed", unit], check=False)
        result = self.run(["systemctl", "start", *units], check=False, timeout=100)
        if result.returncode != 0:
            pytest.fail(f"systemctl start {' '.join(units)} failed in {self.release}:\n"
                        + "\n".join(self.why(u) for u in units), pytrace=False)

    # -- jobu -----------------------------------------------------------------------------
    def jobu_json(self, *args: str) -> dict:
        return json.loads(self.out(["jobu", *args, "--json"]))

    def execution(self, execution_id: str) -> dict:
        result = self.run(["jobu", "jobs", "show", execution_id, "--json"], check=False)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def enqueue(self, *args: str) -> list[str]:
        """`jobu enqueue ARGS`: the ids of the executions it created."""
        return [line.strip() for line in self.out(["jobu", "enqueue", *args]).splitlines()
                if line.strip().isdigit()]

    def wait_finished(self, execution_id: str, timeout: float = 25) -> dict:
        return wait_until(
            lambda: (e := self.execution(execution_id)).get("status") in
            ("SUCCESS", "FAILED", "TIMEOUT", "CANCELLED") and e,
            timeout, f"execution {execution_id} finished in {self.release}")

    # -- the package ----------------------------------------------------------------------
    def apt_install(self, deb: Path, *extra: str) -> subprocess.CompletedProcess:
        """Exactly what an operator does: apt install ./jobu_<version>_all.deb."""
        return self.run(f"cd /srv/debs && apt-get install -y {' '.join(extra)} ./{deb.name}",
                        check=False, timeout=400)

    def install(self, deb: Path) -> Container:
        update = self.run(["apt-get", "-q", "update"], check=False, timeout=300)
        if update.returncode != 0:
            pytest.fail(f"apt-get update failed in {self.release}:\n{update.stdout[-2000:]}"
                        f"{update.stderr[-2000:]}", pytrace=False)
        result = self.apt_install(deb)
        self.apt_log = result.stdout + result.stderr
        if result.returncode != 0:
            pytest.fail(f"apt install ./{deb.name} failed in {self.release} (exit "
                        f"{result.returncode}):\n{self.apt_log[-4000:]}", pytrace=False)
        return self


# ----------------------------------------------------------------------------- the package --
def _build(out: Path, *args: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    result = _shell(["bash", str(BUILD_DEB), "--no-lintian", "--out", str(out), *args],
                    timeout=1500)
    if result.returncode != 0:
        pytest.fail(f"packaging/build-deb.sh {' '.join(args)} failed:\n"
                    f"{result.stdout[-3000:]}{result.stderr[-3000:]}", pytrace=False)
    print(result.stdout)
    debs = [line.split("wrote ", 1)[1].split(" (")[0] for line in result.stdout.splitlines()
            if line.startswith("build-deb: wrote ")]
    assert debs, f"build-deb.sh named no .deb it wrote:\n{result.stdout}"
    return Path(debs[-1])


def tree_version() -> str:
    for line in (ROOT / "jobu" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__ = "):
            return line.split('"')[1]
    raise AssertionError("no __version__ in jobu/__init__.py")


@pytest.fixture(scope="session")
def deb() -> Path:
    """This tree's package, built in the clean Debian 12 room (packaging/build-deb.sh)."""
    shutil.rmtree(OUT / "current", ignore_errors=True)
    return _build(OUT / "current")


#: The commit the upgrade test builds as the previous version: the package as CI last proved it
#: before this one (no jobu-admin.service, no admin in the package). Move it forward to the
#: commit of each release once jobu has more than one.
PREVIOUS_COMMIT = "6c1b55500e464ee98ce182ef6066626d59f415bb"


@pytest.fixture(scope="session")
def previous_deb() -> Path:
    """Version N-1 of the package: PREVIOUS_COMMIT's source built as <version>~rc0, which sorts
    before this tree's version (packaging/build-deb.sh --from-commit --version)."""
    shutil.rmtree(OUT / "previous", ignore_errors=True)
    return _build(OUT / "previous", "--from-commit", PREVIOUS_COMMIT,
                  "--version", f"{tree_version()}~rc0")


# ------------------------------------------------------------------------------ containers --
@pytest.fixture(scope="session", params=list(RELEASES), ids=[r[0] for r in RELEASES.values()])
def release(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def ct(release: str, deb: Path) -> Iterator[Container]:
    """A booted container of `release`, with the package installed as an operator does it.
    Also records, before the install, what apt planned to install (ct.planned)."""
    container = Container(release, deb.parent).up()
    try:
        container.preinstalled = container.out(
            "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' " + " ".join(DEPENDENCIES)
            + " 2>/dev/null | grep '^ii' || true")
        container.run(["apt-get", "-q", "update"], timeout=300)
        container.planned = container.out(
            f"cd /srv/debs && apt-get install --simulate ./{deb.name}", timeout=300)
        container.install(deb)
        yield container
    finally:
        container.down()


@pytest.fixture
def fresh_container(deb: Path, release: str) -> Iterator[Callable[..., Container]]:
    """fresh_container(debs_dir=deb's) -> a new booted container of `release`, nothing
    installed; stopped and removed after the test."""
    made: list[Container] = []

    def make(debs: Path | None = None) -> Container:
        container = Container(release, debs or deb.parent)
        made.append(container)
        return container.up()

    yield make
    for container in made:
        container.down()


@pytest.fixture
def services_up(ct: Container) -> Container:
    """The core services running (a test before may have stopped them)."""
    if any(ct.unit_state(u) != "active/running" for u in CORE_SERVICES):
        ct.start("jobu.target", *CORE_SERVICES)
    return ct


class ConfigFiles:
    """Changes to files in the container, each undone (original content, owner and mode) when
    the test ends."""

    def __init__(self, ct: Container) -> None:
        self.ct = ct
        self.saved: list[tuple[str, str | None]] = []

    def _save(self, path: str) -> None:
        if any(p == path for p, _ in self.saved):
            return
        backup = f"/root/e2e-backup-{len(self.saved)}"
        existed = self.ct.ok(["cp", "-p", path, backup])
        self.saved.append((path, backup if existed else None))

    def sed(self, path: str, *expressions: str) -> None:
        self._save(path)
        self.ct.run(["sed", "-i", *(x for e in expressions for x in ("-e", e)), path])

    def append(self, path: str, text: str) -> None:
        self._save(path)
        self.ct.run(["sh", "-c", f'cat >> "{path}"'], input=text)

    def write(self, path: str, text: str, mode: str = "0640", group: str = "jobu") -> None:
        self._save(path)
        self.ct.run(["sh", "-c", f'cat > "{path}" && chgrp {group} "{path}" '
                                 f'&& chmod {mode} "{path}"'], input=text)

    def restore(self) -> None:
        for path, backup in reversed(self.saved):
            if backup:
                self.ct.run(["mv", backup, path], check=False)
            else:
                self.ct.run(["rm", "-f", path], check=False)


@pytest.fixture
def config(ct: Container) -> Iterator[ConfigFiles]:
    """Edit files of the container (e.g. /etc/jobu/worker.yaml); each is put back afterwards,
    and the core services restarted if they were running before."""
    files = ConfigFiles(ct)
    yield files
    files.restore()
    if files.saved:
        for unit in CORE_SERVICES:
            ct.run(["systemctl", "reset-failed", unit], check=False)
        ct.run(["systemctl", "restart", *CORE_SERVICES], check=False, timeout=100)


@pytest.fixture
def dropin(ct: Container) -> Iterator[Callable[[str, str], None]]:
    """dropin(unit, "[Service]\\nWatchdogSec=6s\\n"): a drop-in, as an administrator writes one
    (systemctl edit); removed, and the unit restarted, afterwards."""
    written: list[str] = []

    def write(unit: str, text: str) -> None:
        directory = f"/etc/systemd/system/{unit}.d"
        ct.run(["sh", "-c", f'mkdir -p "{directory}" && cat > "{directory}/e2e.conf" '
                            f'&& systemctl daemon-reload'], input=text)
        written.append(unit)

    yield write
    for unit in written:
        ct.run(["sh", "-c", f'rm -f "/etc/systemd/system/{unit}.d/e2e.conf"; '
                            f'rmdir "/etc/systemd/system/{unit}.d" 2>/dev/null; '
                            f'systemctl daemon-reload; systemctl reset-failed {unit}'], check=False)
        ct.run(["systemctl", "restart", unit], check=False, timeout=100)
