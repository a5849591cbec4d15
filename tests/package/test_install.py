"""`apt install ./jobu_<version>_all.deb` on a fresh Debian 12 and 13, and what it leaves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.package.conftest import DEPENDENCIES, UNITS, Container

# "Inst python3-flask (2.2.2-3 Debian:12.11/oldstable [all])", "Inst jobu (0.1.0 local-deb [all])"
INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ([^\[)]*?)(?: \[[^\]]*\])?\)", re.M)


def test_apt_install_pulls_only_the_release_packages(ct: Container, deb: Path) -> None:
    """None of jobu's dependencies is in the fresh root filesystem; apt fetches every one of
    them, and everything else it installs, from the Debian archive of that very release."""
    assert not ct.preinstalled, f"the rootfs has jobu's dependencies already: {ct.preinstalled}"
    planned = INST.findall(ct.planned)
    assert planned, f"apt-get --simulate planned nothing:\n{ct.planned}"
    foreign = []
    for package, version, origins in planned:
        if package == "jobu":
            continue
        majors = {m.group(2) for m in re.finditer(r"(Debian|Debian-Security):(\d+)", origins)}
        if majors != {ct.major}:
            foreign.append(f"{package} {version} from '{origins}'")
    print(f"{len(planned)} packages planned, e.g. "
          + "; ".join(f"{p} {v} {o}" for p, v, o in planned[:4]))
    assert not foreign, f"not from Debian {ct.major}'s archive: {foreign}"
    installed = ct.out("dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' "
                       + " ".join(DEPENDENCIES) + " | grep -c '^ii'", check=False)
    assert installed == str(len(DEPENDENCIES)), f"only {installed} of {DEPENDENCIES} installed"
    status = ct.out(["dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", "jobu"])
    assert status.startswith("ii"), status
    assert "Fetched " in ct.apt_log


def test_install_layout(ct: Container) -> None:
    """The jobu system user and group; conffiles 0640 root:jobu; /var/lib/jobu 0750; jobu(1)."""
    _, _, uid, _, _, home, shell = ct.out(["getent", "passwd", "jobu"]).split(":")
    assert int(uid) < 1000 and home == "/var/lib/jobu" and shell == "/usr/sbin/nologin"
    assert ct.ok(["getent", "group", "jobu"])
    modes = ct.out("stat -c '%n %a %U:%G' /etc/jobu/*.yaml").splitlines()
    print("\n".join(modes))
    assert len(modes) >= 5
    assert all(line.endswith(" 640 root:jobu") for line in modes), modes
    # Every file of /etc/jobu is a conffile (and so 0640 root:jobu, by jobu.postinst).
    conffiles = ct.out(["dpkg-query", "-W", "-f=${Conffiles}\\n", "jobu"])
    for line in modes:
        assert f"{line.split()[0]} " in conffiles, f"{line.split()[0]} is not a conffile"
    assert ct.out(["stat", "-c", "%a %U:%G", "/var/lib/jobu"]) == "750 jobu:jobu"
    assert ct.ok(["test", "-f", "/usr/share/man/man1/jobu.1.gz"])
    version = ct.out(["dpkg-query", "-W", "-f=${Version}", "jobu"])
    assert ct.out(["jobu", "--version"]) == f"jobu {version}"


def test_postinst_migrated_the_database(ct: Container) -> None:
    assert ct.out(["stat", "-c", "%U:%G", "/var/lib/jobu/jobu.db"]) == "jobu:jobu"
    assert re.search(r"^applied ", ct.apt_log, re.M), "the postinst applied no migration"
    dry = ct.out(["runuser", "-u", "jobu", "--", "jobu", "migrate", "--dry-run"])
    assert "up to date" in dry, dry


def test_unit_enablement(ct: Container) -> None:
    """The core services and jobu.target enabled and started; jobu-queued installed, disabled,
    not started; the template loads."""
    for unit in UNITS:
        if "@" in unit.name:
            assert ct.unit_property(unit.name, "LoadState") == "loaded"
            continue
        enabled = ct.out(["systemctl", "is-enabled", unit.name], check=False)
        assert enabled == ("enabled" if unit.enabled else "disabled"), f"{unit.name}: {enabled}"
        if not unit.enabled:
            assert ct.unit_property(unit.name, "ActiveState") == "inactive"


def test_units_verify(ct: Container) -> None:
    """systemd-analyze verify of every unit: clean, with this release's systemd (no directive
    it does not know)."""
    result = ct.run(["systemd-analyze", "verify", *(u.name for u in UNITS)], check=False)
    # verify runs man(1) for Documentation=man:jobu(1); the minimal rootfs has no man-db.
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if line.strip() and "Command 'man jobu(1)' failed" not in line
                  and not re.search(r"man jobu\(1\)", line)]
    print(ct.out(["systemctl", "--version"]).splitlines()[0])
    assert not complaints, "\n".join(complaints)


@pytest.mark.parametrize("unit", [u.name for u in UNITS if u.daemon])
def test_security_exposure(ct: Container, unit: str) -> None:
    """systemd-analyze security rates each service 2.0 or better."""
    out = ct.out(["systemd-analyze", "security", "--no-pager", unit], check=False)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out[-1000:]
    print(f"{unit}: {match.group(1)}")
    assert float(match.group(1)) <= 2.0, "\n".join(
        line for line in out.splitlines() if line.startswith("✗"))


def test_sandbox_keeps_psycopg_working(ct: Container) -> None:
    """jobu-worker's sandbox as shipped (no MemoryDenyWriteExecute) lets psycopg call libpq."""
    probe = "e2e-sandbox-probe"
    ct.run(f"""sed -e '/^ExecStart=/d' -e '/^ExecReload=/d' -e '/^WatchdogSec=/d' \
        -e '/^Restart=/d' -e '/^PartOf=/d' -e 's/^Type=notify/Type=oneshot/' \
        -e '/^\\[Install\\]/,$d' /usr/lib/systemd/system/jobu-worker.service \
        > /etc/systemd/system/{probe}.service
        printf '%s\\n' 'ExecStart=/usr/bin/python3 /etc/systemd/system/{probe}.py' \
            'StandardOutput=truncate:/run/{probe}.out' 'StandardError=inherit' \
            >> /etc/systemd/system/{probe}.service""")
    ct.run(["sh", "-c", f"cat > /etc/systemd/system/{probe}.py && systemctl daemon-reload"],
           input="""
import psycopg, psycopg_pool, pymysql, sqlite3, jobu.config, jobu.store
print("psycopg", psycopg.__version__, psycopg.pq.__impl__, "libpq", psycopg.pq.version())
try:  # a real libpq connection attempt; nothing listens on port 9
    psycopg.connect("host=127.0.0.1 port=9 dbname=x user=x connect_timeout=3")
except psycopg.OperationalError as error:
    print("libpq answered:", str(error).strip().splitlines()[0])
""")
    try:
        started = ct.run(["systemctl", "start", f"{probe}.service"], check=False)
        out = ct.out(["cat", f"/run/{probe}.out"], check=False)
        print(out)
        assert started.returncode == 0, f"under jobu-worker's sandbox: {out}\n{ct.why(probe)}"
        assert "libpq answered" in out
    finally:
        ct.run(f"rm -f /etc/systemd/system/{probe}.* /run/{probe}.out; systemctl daemon-reload;"
               f" systemctl reset-failed", check=False)
