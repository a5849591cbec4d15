#!/usr/bin/env bash
# packaging/build-deb.sh — build dist/jobu_<version>_all.deb from this tree, then lintian it.
# `make deb` runs this.
#
#   build-deb.sh [--host] [--no-lintian] [--version V] [--from-commit REV] [--out DIR]
#   build-deb.sh --lint DEB [--release RELEASE]
#
# By default the package is built in a clean room: a Debian 12 (bookworm, the oldest release
# supported) root filesystem holding only the Build-Depends of debian/control and lintian, made
# by packaging/e2e/container.sh (mmdebstrap, cached). What the build host has installed cannot
# leak into the package, ${python3:Depends} least of all (debian/py3dist-overrides names every
# dependency's package). Needs root. --host builds on this machine instead, installing the
# Build-Depends with apt (for a machine where containers cannot run).
#
# Then `lintian --fail-on error,warning` with Debian 12's and Debian 13's own lintian, each in
# its release's clean room (--host: the host's lintian only). No lintian overrides.
#
# The source is a copy of the tree (the files git tracks plus the untracked ones it does not
# ignore), or with --from-commit REV that commit of the repository (git archive; the upgrade test
# builds the previous version of jobu this way). The version is the source's
# jobu/__init__.py __version__, which must be the one of the top entry of its debian/changelog (a
# native package). --version V builds the same source as version V instead (both files changed
# in the copy). Output: DIR (default dist)/jobu_<version>_all.deb and jobu_<version>_build.log.
# Exit status: 0 ok, 1 the build failed, 3 lintian failed.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
CONTAINER=$top/packaging/e2e/container.sh
LINT_RELEASES=(bookworm trixie)

say() { echo "build-deb: $*"; }
die() { echo "build-deb: ERROR: $*" >&2; exit 1; }

# lint_in RELEASE DEB: lintian of that release, in its clean room.
lint_in() {
    local release=$1 deb dir
    deb=$(realpath "$2"); dir=$(dirname "$deb")
    say "lintian ($release's) --fail-on error,warning $(basename "$deb")"
    # --display-info: the informational tags are shown too; only errors and warnings fail.
    if bash "$CONTAINER" run "$release" build --timeout 600 --bind "$dir:/srv/debs" -- \
            sh -c "lintian --version && lintian --fail-on error,warning --display-info /srv/debs/$(basename "$deb")"; then
        say "lintian ($release): no errors, no warnings"
    else
        echo "build-deb: lintian ($release) found errors or warnings (above)" >&2
        return 3
    fi
}
lint_host() {
    bash packaging/apt-ensure.sh lintian
    say "lintian (host's $(lintian --version)) --fail-on error,warning $1"
    lintian --fail-on error,warning --display-info "$1" \
        || { echo "build-deb: lintian found errors or warnings (above)" >&2; return 3; }
}

host=0 lint=1 version='' out=$top/dist lint_only='' release='' from_commit=''
while [ $# -gt 0 ]; do
    case $1 in
        --host) host=1; shift ;;
        --no-lintian) lint=0; shift ;;
        --version) version=${2:?--version V}; shift 2 ;;
        --from-commit) from_commit=${2:?--from-commit REV}; shift 2 ;;
        --out) out=${2:?--out DIR}; shift 2 ;;
        --lint) lint_only=${2:?--lint DEB}; shift 2 ;;
        --release) release=${2:?--release RELEASE}; shift 2 ;;
        *) die "usage: build-deb.sh [--host] [--no-lintian] [--version V] [--from-commit REV] [--out DIR] | --lint DEB [--release R]" ;;
    esac
done
if [ -n "$lint_only" ]; then
    [ -f "$lint_only" ] || die "--lint $lint_only: no such file"
    if [ -n "$release" ]; then lint_in "$release" "$lint_only"; exit; fi
    status=0
    for r in "${LINT_RELEASES[@]}"; do lint_in "$r" "$lint_only" || status=$?; done
    exit $status
fi

SECONDS=0
work=$(mktemp -d /tmp/jobu-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree=$work/source
mkdir "$tree"
if [ -n "$from_commit" ]; then
    git -C "$top" cat-file -e "$from_commit^{commit}" 2>/dev/null \
        || die "--from-commit $from_commit: no such commit in this clone (a shallow clone? git fetch --unshallow)"
    git -C "$top" archive "$from_commit" | tar -xf - -C "$tree"
    say "source: commit $(git -C "$top" rev-parse --short "$from_commit^{commit}")"
elif git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$top" ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf - | tar -xf - -C "$tree"
else
    tar --exclude=./.git --exclude='./.venv*' --exclude=./dist --exclude=./build \
        --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$tree"
fi
tree_version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' "$tree/jobu/__init__.py")
[ -n "$tree_version" ] || die "no line __version__ = \"...\" in jobu/__init__.py"
changelog_version=$(sed -n '1s/^jobu (\([^)]*\)).*/\1/p' "$tree/debian/changelog")
if [ "$changelog_version" != "$tree_version" ]; then
    die "jobu/__init__.py says $tree_version but debian/changelog's top entry is $changelog_version:" \
        "add an entry for $tree_version to debian/changelog (e.g. dch -v $tree_version), or fix one of them"
fi
version=${version:-$tree_version}
src=$work/jobu-$version
mv "$tree" "$src"
if [ "$version" != "$tree_version" ]; then
    sed -i "1s/^jobu ([^)]*)/jobu ($version)/" "$src/debian/changelog"
    # PEP 440 has no "~": 0.1.0~rc0 (Debian) is 0.1.0rc0 (Python); both sort before 0.1.0.
    sed -i "s/^__version__ = \"[^\"]*\"$/__version__ = \"${version//\~/}\"/" "$src/jobu/__init__.py"
    say "building the source as version $version (debian/changelog and __version__ changed in the copy)"
fi

mkdir -p "$out"
log=$out/jobu_${version}_build.log
# Tests are not run here (DEB_BUILD_OPTIONS=nocheck, see debian/rules).
build_cmd="cd /build/jobu-$version && dpkg-buildpackage -b -us -uc"
if [ "$host" = 1 ]; then
    bash packaging/apt-ensure.sh dpkg-dev
    if ! (cd "$src" && dpkg-checkbuilddeps) >/dev/null 2>&1; then
        say "installing the Build-Depends of debian/control (apt-get build-dep)"
        export DEBIAN_FRONTEND=noninteractive
        compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get -q update
        (cd "$src" && apt-get -q -y -o DPkg::Lock::Timeout=300 --no-install-recommends build-dep ./) \
            || { apt-get -q update && (cd "$src" && apt-get -q -y --no-install-recommends build-dep ./); }
    fi
    say "building jobu $version on this host in $src (log: $log)"
    # /usr/bin's python3 and a clean environment (a pyenv python3 first in PATH breaks pybuild).
    (cd "$src" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LANG=C.UTF-8 \
        DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -b -us -uc) >"$log" 2>&1 || build_rc=$?
else
    say "building jobu $version in a clean Debian 12 room (log: $log)"
    bash "$CONTAINER" run bookworm build --timeout 900 --bind "$work:/build" -- \
        env HOME=/tmp DEB_BUILD_OPTIONS=nocheck sh -c "$build_cmd" >"$log" 2>&1 || build_rc=$?
fi
if [ "${build_rc:-0}" -ne 0 ]; then
    tail -n 60 "$log" >&2
    die "dpkg-buildpackage failed (the last lines above; all of it in $log)"
fi

deb=jobu_${version}_all.deb
[ -f "$work/$deb" ] || die "dpkg-buildpackage did not write $deb (see $log)"
# What must be inside: the command, the SQL of every dialect (package data), the units.
contents=$(dpkg-deb -c "$work/$deb")
must_have=(./usr/bin/jobu /jobu/store/sql/sqlite/queries.sql /jobu/store/sql/postgres/queries.sql
        /jobu/store/sql/mysql/queries.sql /systemd/system/jobu-worker.service
        ./etc/jobu/worker.yaml ./usr/share/man/man1/jobu.1.gz)
# ...and the admin's templates and stylesheet (package data) and its unit, where the source has it.
[ ! -d "$src/jobu/admin" ] || must_have+=(/jobu/admin/templates/base.html /jobu/admin/static/admin.css
        /systemd/system/jobu-admin.service)
for wanted in "${must_have[@]}"; do
    grep -qF -- "$wanted" <<<"$contents" || die "$deb lacks $wanted"
done
cp "$work/$deb" "$out/"
say "wrote $out/$deb ($(du -h "$out/$deb" | cut -f1)) in ${SECONDS}s"
say "Depends: $(dpkg-deb -f "$out/$deb" Depends)"

[ "$lint" = 1 ] || exit 0
if [ "$host" = 1 ]; then lint_host "$out/$deb"; exit; fi
status=0
for r in "${LINT_RELEASES[@]}"; do lint_in "$r" "$out/$deb" || status=$?; done
exit $status
