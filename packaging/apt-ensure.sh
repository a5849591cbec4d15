#!/usr/bin/env bash
# packaging/apt-ensure.sh PACKAGE... — install those of the named Debian packages that are missing.
#
# Does nothing (and touches no network) when all are installed. Otherwise installs them
# non-interactively, running `apt-get update` first only if the package lists were never fetched,
# or once more if the install fails on stale lists.
set -euo pipefail

missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
apt_get() {
    # Wait for a dpkg lock held by another apt instead of failing at once.
    "${sudo[@]}" apt-get -q -y -o DPkg::Lock::Timeout=300 "$@"
}

echo "apt-ensure: installing ${missing[*]}"
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt_get update
fi
if ! apt_get install --no-install-recommends "${missing[@]}"; then
    echo "apt-ensure: install failed; refreshing the package lists and trying once more"
    apt_get update
    apt_get install --no-install-recommends "${missing[@]}"
fi
