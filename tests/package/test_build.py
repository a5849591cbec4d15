"""The .deb itself: built in a clean room, depending only on packages each release has, lintian
clean with each release's lintian."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.package.conftest import BUILD_DEB, ROOT, Container


def _field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def _relations(field: str) -> list[list[tuple[str, str]]]:
    """Depends: a list of alternatives, each [(package, version constraint)]."""
    groups = []
    for group in filter(None, (g.strip() for g in field.split(","))):
        alternatives = []
        for alternative in group.split("|"):
            match = re.fullmatch(r"\s*([a-z0-9][a-z0-9+.-]*)(?::any)?\s*(?:\(([^)]*)\))?\s*",
                                 alternative)
            assert match, f"cannot read the relation '{alternative}'"
            alternatives.append((match.group(1), match.group(2) or ""))
        groups.append(alternatives)
    return groups


def test_depends_names_debian_packages_not_build_host_guesses(deb: Path) -> None:
    """The defect of issue 13: built without python3-psycopg installed, dh_python3 fell back on
    its own table and wrote python3-psycopg3. Built in the clean room, the Depends must name
    the packages of debian/py3dist-overrides, with setup.cfg's lower bounds."""
    depends = _field(deb, "Depends")
    print(f"Depends: {depends}")
    names = {name for group in _relations(depends) for name, _ in group}
    assert not {n for n in names if "psycopg3" in n}, f"a psycopg3 name in Depends: {depends}"
    for wanted in ("python3-psycopg", "python3-psycopg-pool", "python3-croniter",
                   "python3-marshmallow", "python3-yaml", "python3-pymysql", "python3-sdnotify",
                   "python3-flask", "gunicorn", "python3-kafka", "python3-apispec",
                   "python3-prometheus-client"):
        assert wanted in names, f"{wanted} missing from Depends: {depends}"
    constraints = {name: version for group in _relations(depends) for name, version in group}
    assert constraints["python3-psycopg"] == ">= 3.1.7", depends
    assert constraints["python3-croniter"] == ">= 1.3.5", depends


def test_package_is_built_in_the_clean_room(deb: Path) -> None:
    """build-deb.sh's log shows the build ran in the Debian 12 room, not on the host."""
    log = (deb.parent / deb.name.replace("_all.deb", "_build.log")).read_text()
    assert "dpkg-buildpackage" in log
    assert "python3-psycopg" not in _installed_in_build_room(), \
        "the clean room has python3-psycopg: it would hide a wrong py3dist mapping"


def _installed_in_build_room() -> str:
    result = subprocess.run(
        ["bash", str(ROOT / "packaging" / "e2e" / "container.sh"), "run", "bookworm", "build",
         "--", "dpkg-query", "-W", "-f=${Package}\\n"], capture_output=True, text=True,
        timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_lintian(deb: Path, release: str) -> None:
    """lintian --fail-on error,warning of the release, in its clean room; no overrides."""
    assert not list((ROOT / "debian").glob("*lintian-overrides*")), "lintian overrides exist"
    result = subprocess.run(["bash", str(BUILD_DEB), "--lint", str(deb), "--release", release],
                            capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    report = "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                       if re.match(r"(build-deb|Lintian|[EWIPX]): ", line))
    print(report)
    assert result.returncode == 0, f"lintian of {release}:\n{report}"


def test_every_dependency_exists_in_the_release(ct: Container, deb: Path) -> None:
    """Each package named in Depends (each alternative group) has a candidate in the release's
    archive that satisfies its version constraint."""
    problems = []
    for group in _relations(_field(deb, "Depends")):
        options = []
        for name, constraint in group:
            candidate = ct.out(f"apt-cache policy {name} | sed -n 's/^ *Candidate: //p'")
            options.append(f"{name} {candidate or '(none)'}")
            if candidate and candidate != "(none)" and (not constraint or ct.ok(
                    ["dpkg", "--compare-versions", candidate, *constraint.split()])):
                break
        else:
            problems.append(" | ".join(options))
    assert not problems, f"no satisfying candidate in {ct.release}: {problems}"


def test_units_are_in_usr_lib(deb: Path) -> None:
    """/usr/lib/systemd/system (Debian 13's lintian rejects /lib, an alias of /usr/lib)."""
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                              check=True).stdout
    assert "./usr/lib/systemd/system/jobu-worker.service" in contents
    assert " ./lib/" not in contents
