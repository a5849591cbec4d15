#!/usr/bin/env bash
# packaging/build-deb.sh — build dist/jobu_<version>_all.deb from this tree, then lintian it.
# `make deb` runs this. On a fresh Debian 12 machine it first installs what it needs with apt:
# dpkg-dev, the Build-Depends of debian/control (apt-get build-dep) and lintian.
#
#   build-deb.sh               build, then `lintian --fail-on error,warning`
#   build-deb.sh --no-lintian  build only
#   build-deb.sh --lint DEB    lintian DEB only
#
# The package is built from a copy of the tree (the files git tracks plus the untracked ones it
# does not ignore: no .venv, no build output), with Debian's /usr/bin/python3 and a clean
# environment (a pyenv python3.11 first in PATH would break pybuild). The version is
# jobu/__init__.py's __version__, which must be the one of the top entry of debian/changelog
# (a native package: no Debian revision). Output: dist/jobu_<version>_all.deb and the build log
# dist/jobu_<version>_build.log. Exit status: 0 ok, 1 the build failed, 3 lintian failed.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

say() { echo "build-deb: $*"; }
die() { echo "build-deb: ERROR: $*" >&2; exit 1; }

run_lintian() {
    local deb=$1
    bash packaging/apt-ensure.sh lintian
    say "lintian --fail-on error,warning $deb"
    # --display-info: show the informational tags too; only errors and warnings fail.
    # Overrides, each with its reason, live in debian/jobu.lintian-overrides.
    if lintian --fail-on error,warning --display-info "$deb"; then
        say "lintian: no errors, no warnings"
    else
        echo "build-deb: lintian found errors or warnings (above)" >&2
        return 3
    fi
}

lint=1
case "${1:-}" in
    --lint) [ -f "${2:-}" ] || die "usage: build-deb.sh --lint DEB"; run_lintian "$2"; exit ;;
    --no-lintian) lint=0 ;;
    "") ;;
    *) die "usage: build-deb.sh [--no-lintian | --lint DEB]" ;;
esac

SECONDS=0
# dpkg-dev: dpkg-parsechangelog, dpkg-checkbuilddeps, dpkg-buildpackage.
bash packaging/apt-ensure.sh dpkg-dev

version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' jobu/__init__.py)
[ -n "$version" ] || die "no line __version__ = \"...\" in jobu/__init__.py"
changelog_version=$(dpkg-parsechangelog -S Version)
if [ "$changelog_version" != "$version" ]; then
    die "jobu/__init__.py says $version but debian/changelog's top entry is $changelog_version:" \
        "add an entry for $version to debian/changelog (e.g. dch -v $version), or fix one of them"
fi

if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
    say "installing the Build-Depends of debian/control (apt-get build-dep)"
    export DEBIAN_FRONTEND=noninteractive
    apt_build_dep() {
        apt-get -q -y -o DPkg::Lock::Timeout=300 --no-install-recommends build-dep ./
    }
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get -q update
    if ! apt_build_dep; then
        say "apt-get build-dep failed; refreshing the package lists and trying once more"
        apt-get -q update
        apt_build_dep
    fi
    dpkg-checkbuilddeps || die "Build-Depends still unmet after apt-get build-dep"
fi

work=$(mktemp -d /tmp/jobu-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/jobu-$version
mkdir "$src"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$top" ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude=./.git --exclude='./.venv*' --exclude=./dist --exclude=./build \
        --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$src"
fi

mkdir -p dist
log=$top/dist/jobu_${version}_build.log
say "building jobu $version in $src (log: $log)"
# Tests are not run here (DEB_BUILD_OPTIONS=nocheck, see debian/rules).
if ! (cd "$src" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LANG=C.UTF-8 \
        DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "dpkg-buildpackage failed (the last lines above; all of it in $log)"
fi

deb=jobu_${version}_all.deb
[ -f "$work/$deb" ] || die "dpkg-buildpackage did not write $deb (see $log)"
# What must be inside: the command, the SQL of every dialect (package data), the units.
contents=$(dpkg-deb -c "$work/$deb")
for wanted in ./usr/bin/jobu /jobu/store/sql/sqlite/queries.sql /jobu/store/sql/postgres/queries.sql \
        /jobu/store/sql/mysql/queries.sql ./lib/systemd/system/jobu-worker.service \
        ./etc/jobu/worker.yaml ./usr/share/man/man1/jobu.1.gz; do
    grep -qF -- "$wanted" <<<"$contents" || die "$deb lacks $wanted"
done
cp "$work/$deb" dist/
say "wrote dist/$deb ($(du -h "dist/$deb" | cut -f1)) in ${SECONDS}s"

[ "$lint" = 1 ] || exit 0
run_lintian "dist/$deb"
