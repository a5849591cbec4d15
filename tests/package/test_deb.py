"""The Debian package, built from this tree and proved in a booted systemd.

One run of packaging/e2e/run-e2e.sh per session: it builds dist/jobu_<version>_all.deb
(packaging/build-deb.sh), lintians it, boots Debian 12 in a systemd-nspawn container, installs the
package there with apt and drives it with systemctl and journalctl. Each check the script reports
becomes one test here, named after it, failing with the script's reason and what the check saw.
The script's whole output is kept in dist/e2e/e2e.log.

It needs root and a Debian host whose apt reaches Debian's registry. Under CI=true a machine that
cannot run it fails these tests; elsewhere they are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.package, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "e2e" / "run-e2e.sh"
RESULTS_DIR = ROOT / "dist" / "e2e"
# A cold run (build dependencies, host tools, rootfs) takes about 4 minutes; a warm one about 2.
TIMEOUT_SECONDS = 900
# After SIGTERM the script stops the container and removes its rootfs within seconds.
TERM_GRACE_SECONDS = 60


def _check_names() -> list[str]:
    listed = subprocess.run(["bash", str(SCRIPT), "--list"], capture_output=True, text=True,
                            check=True)
    return listed.stdout.split()


CHECKS = _check_names()


@dataclass
class CheckResult:
    status: str
    seconds: str
    reason: str
    seen: str


@dataclass
class E2ERun:
    returncode: int | None
    log: Path
    results: dict[str, CheckResult] = field(default_factory=dict)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _why_it_cannot_run() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the package tests need Linux"
    if os.geteuid() != 0:
        return "the package tests need root (systemd-nspawn, namespaces, cgroups, apt)"
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return "the package tests need a Debian host (apt-get, dpkg)"
    return None


def _run_script(log: Path) -> int | None:
    """Run the e2e script, its output to `log`; its exit status, or None if it had to be killed."""
    with log.open("w") as out, subprocess.Popen(
            ["bash", str(SCRIPT), "--results-dir", str(RESULTS_DIR)], cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT) as process:
        try:
            return process.wait(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _stop(process)
            return None
        except BaseException:  # pytest interrupted: the container must not outlive us
            _stop(process)
            raise


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM: the script stops the container and removes its rootfs; SIGKILL if it hangs."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=TERM_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _read_results(log: Path) -> dict[str, CheckResult]:
    results: dict[str, CheckResult] = {}
    table = RESULTS_DIR / "results.tsv"
    if not table.exists():
        return results
    for line in table.read_text().splitlines():
        status, name, seconds, reason = (line.split("\t", 3) + ["", "", "", ""])[:4]
        seen_file = RESULTS_DIR / "checks" / f"{name}.log"
        seen = seen_file.read_text(errors="replace") if seen_file.exists() else ""
        results[name] = CheckResult(status, seconds, reason, seen)
    return results


@pytest.fixture(scope="session")
def e2e() -> E2ERun:
    reason = _why_it_cannot_run()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log = RESULTS_DIR / "e2e.log"
    returncode = _run_script(log)
    return E2ERun(returncode=returncode, log=log, results=_read_results(log))


@pytest.mark.parametrize("check", CHECKS)
def test_e2e(e2e: E2ERun, check: str) -> None:
    result = e2e.results.get(check)
    if result is None:
        how = (f"was stopped after {TIMEOUT_SECONDS}s" if e2e.returncode is None
               else f"exited {e2e.returncode}")
        pytest.fail(f"{check}: not reported; run-e2e.sh {how}. The end of {e2e.log}:\n"
                    f"{e2e.tail()}", pytrace=False)
    if result.status != "pass":
        pytest.fail(f"{check}: {result.reason}\n--- what the check saw "
                    f"({RESULTS_DIR}/checks/{check}.log) ---\n{result.seen.rstrip()}",
                    pytrace=False)


def test_e2e_reports_only_its_checks(e2e: E2ERun) -> None:
    """Anything else reported (e2e-script: the script stopped early) is a failure of its own."""
    others = {name: r.reason for name, r in e2e.results.items() if name not in CHECKS}
    assert not others, f"run-e2e.sh reported {others}; the end of {e2e.log}:\n{e2e.tail()}"
