"""The root filesystem cache of packaging/e2e/container.sh: keyed by what shapes a tarball, and
a stale tarball is rebuilt, never trusted. (`rootfs --check` says what it would do.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from tests.package.conftest import CONTAINER_SH


def _check(cache: Path, release: str = "bookworm", kind: str = "boot",
           **env: str) -> tuple[Path, str]:
    result = subprocess.run(["bash", str(CONTAINER_SH), "rootfs", release, kind, "--check"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                            env={**os.environ, "CACHE_DIR": str(cache), **env})
    assert result.returncode == 0, result.stderr
    path, verdict = result.stdout.strip().split(" ", 1)
    return Path(path), verdict


def test_the_key_names_release_and_kind(tmp_path: Path) -> None:
    paths = {_check(tmp_path, r, k)[0] for r in ("bookworm", "trixie") for k in ("boot", "build")}
    assert len(paths) == 4
    assert all(p.parent == tmp_path for p in paths)


def test_a_stale_tarball_is_rebuilt(tmp_path: Path) -> None:
    tarball, verdict = _check(tmp_path)
    assert verdict == "none cached"

    content = b"a root filesystem"
    tarball.write_bytes(content)
    checksum = Path(f"{tarball}.sha256")
    checksum.write_text(f"{hashlib.sha256(content).hexdigest()}  {tarball.name}\n")
    assert _check(tmp_path) == (tarball, "fresh")
    assert _check(tmp_path, REFRESH_CACHE="1")[1] == "REFRESH_CACHE=1"

    tarball.write_bytes(content + b"!")            # damaged, or cut short by a killed build
    assert _check(tmp_path)[1] == "checksum mismatch"

    tarball.write_bytes(content)
    week_and_a_half_ago = time.time() - 10 * 86400
    os.utime(tarball, (week_and_a_half_ago, week_and_a_half_ago))
    assert _check(tmp_path)[1] == "older than 7 days"

    os.utime(tarball)
    checksum.unlink()                               # a build that never finished writes none
    assert _check(tmp_path)[1] == "none cached"
