"""The package over its life: reinstall, upgrade from the previous version, remove, purge."""

from __future__ import annotations

import re
from pathlib import Path

from tests.package.conftest import CORE_SERVICES, Container, wait_until


def test_reinstall_keeps_the_database(services_up: Container, deb: Path) -> None:
    """apt install --reinstall runs the upgrade path of the maintainer scripts."""
    ct = services_up
    result = ct.apt_install(deb, "--reinstall")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "up to date" in result.stdout, "the postinst did not check the schema"
    for unit in CORE_SERVICES:
        wait_until(lambda u=unit: ct.unit_state(u) == "active/running", 30, f"{unit} running")


def test_postinst_with_an_unreachable_server_database(ct: Container, deb: Path, config) -> None:
    """Jobs database on a PostgreSQL server that does not answer: the install succeeds and says
    how to migrate. The services are kept out of it (policy-rc.d): only the postinst is tested."""
    config.append("/etc/jobu/database.yaml",
                  "  elsewhere:\n    url: postgresql://jobu@127.0.0.1:9/jobu\n")
    config.sed("/etc/jobu/database.yaml", "s/^jobs_database: .*/jobs_database: elsewhere/")
    config.write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", mode="0755", group="root")
    result = ct.apt_install(deb, "--reinstall")
    out = result.stdout + result.stderr
    print(out[out.find("Setting up jobu"):])
    assert result.returncode == 0, out[-3000:]
    assert "jobu migrate" in out


def _admin_additions(ct: Container) -> None:
    """What an administrator adds, which remove keeps and purge takes away: an enabled extra
    pool with its worker-e2e.yaml, and a drop-in."""
    ct.run("""cp -p /etc/jobu/worker.yaml /etc/jobu/worker-e2e.yaml
        systemctl enable jobu-worker@e2e.service
        d=/etc/systemd/system/jobu-worker.service.d
        mkdir -p $d && printf '[Service]\\nEnvironment=E2E_LOCAL=1\\n' > $d/local.conf
        systemctl daemon-reload""")


JOBU_PROCESSES = """python3 -c '
import os, pwd
uid = pwd.getpwnam("jobu").pw_uid
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.stat(f"/proc/{pid}").st_uid == uid:
            print(pid, open(f"/proc/{pid}/cmdline").read().replace("\\0", " "))
    except OSError:
        pass'"""


def test_remove_keeps_configuration_and_data(fresh_container, deb: Path) -> None:
    ct = fresh_container().install(deb)
    _admin_additions(ct)
    ct.run(["apt-get", "remove", "-y", "jobu"], timeout=200)
    assert ct.out(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "jobu"]).startswith("rc")
    for name in ("admin", "database", "dispatcher", "queue", "worker", "worker-e2e"):
        assert ct.ok(["test", "-f", f"/etc/jobu/{name}.yaml"]), f"/etc/jobu/{name}.yaml is gone"
    assert ct.ok(["test", "-f", "/var/lib/jobu/jobu.db"])
    assert ct.unit_property("jobu-worker.service", "LoadState") == "not-found"
    assert ct.out(JOBU_PROCESSES) == "", "processes of jobu still run"


def test_purge_leaves_nothing(fresh_container, deb: Path) -> None:
    ct = fresh_container().install(deb)
    _admin_additions(ct)
    ct.run(["apt-get", "purge", "-y", "jobu"], timeout=200)
    assert ct.out(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "jobu"], check=False)[:2] \
        in ("", "un", "pn")
    left = ct.out("""ls -d /etc/jobu /var/lib/jobu 2>/dev/null
        find /etc/systemd /lib/systemd /usr/lib/systemd /var/lib/systemd /run/systemd/system \
            /run/systemd/generator* -name '*jobu*' 2>/dev/null
        dpkg-statoverride --list | grep jobu
        systemctl list-units --all --no-legend 'jobu*'""", check=False)
    assert left == "", f"left behind: {left}"
    assert ct.out(JOBU_PROCESSES) == ""
    print("the jobu user stays, as Debian does:", ct.out(["getent", "passwd", "jobu"]))


def test_upgrade_from_the_previous_version(fresh_container, deb: Path,
                                           previous_deb: Path) -> None:
    """Install N-1 (PREVIOUS_COMMIT's package), use it (a cron, a finished execution, an edited
    /etc/jobu/worker.yaml), then `apt install ./jobu_N_all.deb`: all of it survives, the services
    run the new version, and the new unit jobu-admin is there, disabled."""
    assert previous_deb.parent != deb.parent
    ct = fresh_container(debs=previous_deb.parent.parent)
    old_name = f"{previous_deb.parent.name}/{previous_deb.name}"
    new_name = f"{deb.parent.name}/{deb.name}"
    ct.run(["apt-get", "-q", "update"], timeout=300)
    ct.run(f"cd /srv/debs && apt-get install -y ./{old_name}", timeout=400)
    old_version = ct.out(["dpkg-query", "-W", "-f=${Version}", "jobu"])
    ct.run(["jobu", "cron", "add", "e2e-daily", "--schedule", "0 3 * * *", "--handler", "noop"])
    [execution_id] = ct.enqueue("noop", "--params", '{"before": "upgrade"}')
    assert ct.wait_finished(execution_id)["status"] == "SUCCESS"
    ct.run(["sed", "-i", "s/^pool_size: .*/pool_size: 3/", "/etc/jobu/worker.yaml"])
    ct.run(["systemctl", "restart", *CORE_SERVICES], timeout=100)
    pids = {u: ct.unit_property(u, "MainPID") for u in CORE_SERVICES}

    # As an unattended upgrade does it: a conffile the administrator changed (worker.yaml) and
    # the new version changed too is kept, not asked about (there is no terminal to ask on).
    result = ct.run(f"cd /srv/debs && apt-get install -y -o Dpkg::Options::=--force-confdef "
                    f"-o Dpkg::Options::=--force-confold ./{new_name}", check=False, timeout=400)
    out = result.stdout + result.stderr
    print(out[out.find("Preparing to unpack"):])
    assert result.returncode == 0, out[-3000:]
    new_version = ct.out(["dpkg-query", "-W", "-f=${Version}", "jobu"])
    assert ct.ok(["dpkg", "--compare-versions", old_version, "lt", new_version])
    assert "e2e-daily" in ct.out(["jobu", "cron", "list"])
    assert ct.execution(execution_id).get("status") == "SUCCESS", "the history is gone"
    assert re.search(r"(?m)^pool_size: 3$", ct.out(["cat", "/etc/jobu/worker.yaml"])), \
        "the edit of /etc/jobu/worker.yaml is gone"
    assert ct.out(["stat", "-c", "%a %U:%G", "/etc/jobu/worker.yaml"]) == "640 root:jobu"
    for unit in CORE_SERVICES:
        wait_until(lambda u=unit: ct.unit_state(u) == "active/running", 30, f"{unit} running")
        assert ct.unit_property(unit, "MainPID") != pids[unit], f"{unit} was not restarted"
    assert ct.out(["jobu", "--version"]) == f"jobu {new_version}"
    # A unit the new version brings is installed as a fresh install leaves it: loaded, disabled.
    assert ct.unit_property("jobu-admin.service", "LoadState") == "loaded"
    assert ct.out(["systemctl", "is-enabled", "jobu-admin.service"], check=False) == "disabled"
