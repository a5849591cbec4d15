#!/usr/bin/env bash
# packaging/e2e/container.sh — Debian root filesystems for the package tests, booted or not.
# The shell half of tests/package: the checks themselves are pytest tests.
#
#   container.sh rootfs RELEASE KIND [--check]
#                                             build (or reuse) the cached tarball; print its path
#                                             (--check: only say whether it would be rebuilt)
#   container.sh up NAME RELEASE [--owner PID] [--bind-ro HOST:CT]...
#                                             boot a throwaway copy of RELEASE's "boot" rootfs
#   container.sh exec NAME [--timeout S] [--] CMD...
#                                             run CMD in it (stdin passed through); CMD's status
#   container.sh down NAME                    stop it, remove its rootfs and cgroups
#   container.sh run RELEASE KIND [--timeout S] [--bind[-ro] HOST:CT]... -- CMD...
#                                             CMD in a throwaway, not booted, copy of a rootfs
#                                             (RUN_SETENV="VAR..." passes those variables in)
#   container.sh reap                         clean up containers whose owner is gone
#
# RELEASE: bookworm (Debian 12) or trixie (Debian 13). KIND:
#   boot   systemd, dbus, apt, python3 and nothing of jobu's: `apt install ./jobu.deb` must fetch
#          every dependency from that release's archive.
#   build  the Build-Depends of debian/control (apt-get build-dep) and lintian: the clean place
#          where the package is built and checked, whatever the host has installed.
#   test   jobu's dependencies and the test tools as that release's packages: where the test
#          suite runs on that release's Python (packaging/debian-env.sh).
#
# Tarballs are cached in $CACHE_DIR as RELEASE-KIND-KEY.tar. KEY hashes everything that shapes
# one: release, kind, package list, this script's recipe, debian/control (build) and the apt
# sources. A tarball is used only when its KEY matches, its .sha256 (written last, once it was
# complete) matches its content, and it is younger than CACHE_MAX_AGE_DAYS (the archive moves on:
# security updates); anything else is rebuilt, never trusted. Other keys of the same release and
# kind are deleted.
#
# How a real systemd boots here (see shared/reference/systemd-container.md): the host has no
# systemd, so `systemd-nspawn --boot --register=no --keep-unit` in a cgroup of its own,
# --timezone=off (tzdata must be able to replace /etc/localtime), sharing the host's network
# (apt inside reaches the registry as the host does); commands enter with nsenter. The rootfs is
# a tmpfs under /var/lib/machines/NAME (NAME starts with jobu-ct-). State of a container:
# /run/jobu-ct/NAME/. A container whose owner process (--owner, default: the caller) is gone is
# stale and reaped by the next `up` or `run`.
#
# Needs root; installs systemd-container and mmdebstrap with apt when missing.
# Environment: CACHE_DIR (/var/cache/jobu-e2e), CACHE_MAX_AGE_DAYS (7), REFRESH_CACHE=1,
# BOOT_TIMEOUT (60).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
CACHE_DIR=${CACHE_DIR:-/var/cache/jobu-e2e}
CACHE_MAX_AGE_DAYS=${CACHE_MAX_AGE_DAYS:-7}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}
STATE_ROOT=/run/jobu-ct
RECIPE=5   # bump when a rootfs recipe below changes
BOOT_PACKAGES=systemd,systemd-sysv,dbus,libpam-systemd,ca-certificates,python3
BUILD_PACKAGES=build-essential,dpkg-dev,lintian,ca-certificates
# jobu's dependencies as Debian packages (debian/control), the test tools, what builds jobu's
# editable install, and what the suite's own helpers run (PostgreSQL's server binaries for
# tests/support/pgcluster.py, systemd-analyze, runuser, ps).
TEST_PACKAGES=python3,python3-flask,python3-croniter,python3-sdnotify,python3-psycopg,python3-psycopg-pool,python3-pymysql,python3-kafka,python3-yaml,python3-marshmallow,gunicorn,python3-apispec,python3-prometheus-client,python3-pytest,python3-hypothesis,python3-venv,python3-pip,python3-setuptools,python3-wheel,postgresql,systemd,util-linux,procps,ca-certificates

log() { printf '[%(%H:%M:%S)T] container: %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (systemd-nspawn, namespaces, cgroups)"

check_name() {
    case $1 in
        jobu-ct-*[!A-Za-z0-9_.-]*|*/*) die "bad container name '$1'" ;;
        jobu-ct-?*) ;;
        *) die "a container name starts with jobu-ct- (got '$1')" ;;
    esac
}
check_release() {
    case $1 in bookworm|trixie) ;; *) die "unknown release '$1' (bookworm or trixie)" ;; esac
}

host_tools() {
    local tools=()
    command -v systemd-nspawn >/dev/null || tools+=(systemd-container)
    command -v mmdebstrap >/dev/null || tools+=(mmdebstrap)
    command -v nsenter >/dev/null || tools+=(util-linux)
    command -v ps >/dev/null || tools+=(procps)
    [ ${#tools[@]} -eq 0 ] && return 0
    log "installing host tools: ${tools[*]}"
    bash "$TOP/packaging/apt-ensure.sh" "${tools[@]}" >&2 || die "could not install ${tools[*]}"
}

# The host's apt sources for Debian, with the host's release names replaced by RELEASE's: the
# same registry, another suite. Written to stdout.
sources_for() {
    local release=$1 file=/etc/apt/sources.list.d/debian.sources host
    [ -f "$file" ] || file=/etc/apt/sources.list
    host=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$host" ] || die "cannot tell the host's Debian release from /etc/os-release"
    sed -E "s/\\b$host(-updates|-security|-backports)?\\b/$release\\1/g" "$file"
}

# rootfs RELEASE KIND [--check]: the path of a trustworthy tarball, built when there is none.
# --check builds nothing: it prints the path and why it would be rebuilt ("fresh" if it would not).
rootfs() {
    local release=$1 kind=$2 check=${3:-} packages sources key tarball lock_fd why=''
    check_release "$release"
    case $kind in
        boot) packages=$BOOT_PACKAGES ;;
        build) packages=$BUILD_PACKAGES ;;
        test) packages=$TEST_PACKAGES ;;
        *) die "unknown rootfs kind '$kind' (boot, build or test)" ;;
    esac
    [ -n "$check" ] || host_tools
    mkdir -p "$CACHE_DIR"
    sources=$(sources_for "$release")
    key=$( { printf '%s\n' "$release" "$kind" "$packages" "$RECIPE" "$sources"
             [ "$kind" = build ] && cat "$TOP/debian/control"; } | sha256sum | cut -c1-12)
    tarball=$CACHE_DIR/$release-$kind-$key.tar
    exec {lock_fd}>"$CACHE_DIR/.lock"
    flock "$lock_fd"
    if [ "${REFRESH_CACHE:-0}" = 1 ]; then why="REFRESH_CACHE=1"
    elif [ ! -s "$tarball" ] || [ ! -s "$tarball.sha256" ]; then why="none cached"
    elif [ -n "$(find "$tarball" -mtime +"$CACHE_MAX_AGE_DAYS")" ]; then why="older than $CACHE_MAX_AGE_DAYS days"
    elif ! (cd "$CACHE_DIR" && sha256sum --status -c "$tarball.sha256" 2>/dev/null); then why="checksum mismatch"
    fi
    if [ -n "$check" ]; then
        flock -u "$lock_fd"
        echo "$tarball ${why:-fresh}"
        return 0
    fi
    if [ -n "$why" ]; then
        log "building $tarball ($why)"
        build_rootfs "$release" "$kind" "$packages" "$tarball" "$sources" \
            || { flock -u "$lock_fd"; die "mmdebstrap failed for $release $kind"; }
        # Other keys of this release and kind are stale by definition.
        find "$CACHE_DIR" -maxdepth 1 -name "$release-$kind-*.tar*" ! -name "$(basename "$tarball")*" -delete
    fi
    flock -u "$lock_fd"
    echo "$tarball"
}

build_rootfs() {
    local release=$1 kind=$2 packages=$3 tarball=$4 sources=$5 tmp rc t0=$SECONDS
    tmp=$(mktemp -d /tmp/jobu-rootfs.XXXXXX)
    # mmdebstrap builds the chroot under TMPDIR: a tmpfs spares the disk thousands of fsyncs.
    mount -t tmpfs -o mode=0755,size=6g tmpfs "$tmp" || die "cannot mount a tmpfs on $tmp"
    printf '%s\n' "$sources" >"$tmp/debian.sources"
    local hooks=(
        --customize-hook='echo jobu-e2e > "$1/etc/hostname"'
        --customize-hook='printf "127.0.0.1\tlocalhost jobu-e2e\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"'
        --customize-hook=': > "$1/etc/machine-id"'
    )
    if [ "$kind" = boot ]; then
        # No apt timers that could take the dpkg lock mid-test; no getty.
        hooks+=(--customize-hook='systemctl --root="$1" mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer console-getty.service')
    elif [ "$kind" = build ]; then
        # The Build-Depends, exactly as debian/control says.
        mkdir -p "$tmp/src/debian" && cp "$TOP/debian/control" "$tmp/src/debian/"
        hooks+=(--customize-hook="mkdir -p \"\$1/tmp/src\" && cp -r '$tmp/src/debian' \"\$1/tmp/src/\""
                --customize-hook='chroot "$1" sh -c "cd /tmp/src && DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends build-dep ./ && rm -rf /tmp/src && apt-get clean"')
    fi
    # --aptopt lines stay in the rootfs: apt inside behaves as the host's (the registry may
    # serve a dated snapshot, past Release's Valid-Until).
    TMPDIR=$tmp mmdebstrap --quiet --variant=apt --format=tar --include="$packages" \
        --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Languages "none"' \
        --dpkgopt=force-unsafe-io "${hooks[@]}" \
        "$release" "$tarball.tmp" "$tmp/debian.sources" >&2
    rc=$?
    umount "$tmp" && rmdir "$tmp"
    [ "$rc" -eq 0 ] || { rm -f "$tarball.tmp"; return 1; }
    mv "$tarball.tmp" "$tarball"
    (cd "$CACHE_DIR" && sha256sum "$(basename "$tarball")" >"$tarball.sha256")
    log "built $tarball in $((SECONDS - t0))s ($(du -h "$tarball" | cut -f1))"
}

# unpack TARBALL DIR: a tmpfs at DIR holding the rootfs.
unpack() {
    mkdir -p "$2" && mount -t tmpfs -o mode=0755,size=4g "tmpfs-$(basename "$2")" "$2" \
        && tar --numeric-owner -xpf "$1" -C "$2"
}

# A cgroup of the container's own (the host has no systemd): with --keep-unit nspawn splits the
# cgroup it starts in into supervisor/ and payload/, so two containers must not share one.
cgroup_dirs() {
    [ -d /run/systemd/system ] && return 0
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo "/sys/fs/cgroup/$1"
    else
        [ -d /sys/fs/cgroup/systemd ] && echo "/sys/fs/cgroup/systemd/$1"
        [ -d /sys/fs/cgroup/unified ] && echo "/sys/fs/cgroup/unified/$1"
    fi
}

proc_start() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# nspawn NAME ROOTFS ARGS...: systemd-nspawn in NAME's cgroup, detached from the caller.
nspawn() {
    local name=$1 dir=$2 d
    shift 2
    local dirs; mapfile -t dirs < <(cgroup_dirs "$name")
    mkdir -p "${dirs[@]}" 2>/dev/null
    for d in "${dirs[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
    exec systemd-nspawn --directory="$dir" --machine="$name" --register=no --keep-unit \
        --timezone=off --resolv-conf=copy-host "$@"
}

up() {
    local name=$1 release=$2 owner=$PPID binds=() tarball st dir
    shift 2
    check_name "$name"; check_release "$release"
    while [ $# -gt 0 ]; do
        case $1 in
            --owner) owner=$2; shift 2 ;;
            --bind-ro) binds+=("--bind-ro=$2"); shift 2 ;;
            *) die "up: unknown option $1" ;;
        esac
    done
    reap
    st=$STATE_ROOT/$name
    [ -e "$st" ] && die "container $name exists already"
    tarball=$(rootfs "$release" boot) || exit 1
    mkdir -p "$st"
    echo "$owner $(proc_start "$owner")" >"$st/owner"
    dir=/var/lib/machines/$name
    echo "$dir" >"$st/rootfs"
    local t0=$SECONDS
    unpack "$tarball" "$dir" || { down "$name"; die "cannot unpack $tarball"; }
    # setsid: the container outlives this script; `down` (or the next `up`'s reap) ends it.
    setsid bash -c "$(declare -f cgroup_dirs nspawn); nspawn \"\$@\"" nspawn "$name" "$dir" \
        --boot --console=read-only "${binds[@]}" </dev/null >"$st/console.log" 2>&1 &
    echo $! >"$st/nspawn.pid"
    local nspid=$! leader='' deadline=$((SECONDS + BOOT_TIMEOUT)) pid
    while [ -z "$leader" ]; do
        kill -0 "$nspid" 2>/dev/null || { cat "$st/console.log" >&2; down "$name"; die "systemd-nspawn exited during boot"; }
        [ $SECONDS -lt $deadline ] || { down "$name"; die "the container's PID 1 did not appear"; }
        for pid in $(ps -o pid= --ppid "$nspid" 2>/dev/null); do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] && leader=$pid
        done
        [ -n "$leader" ] || sleep 0.1
    done
    echo "$leader" >"$st/leader"
    local state=
    while :; do
        state=$(ct_exec "$name" "$BOOT_TIMEOUT" systemctl is-system-running --wait 2>/dev/null) && break
        case $state in running|degraded) break ;; esac
        [ $SECONDS -lt $deadline ] || { tail -n 30 "$st/console.log" >&2; down "$name"; die "the container did not finish booting ('$state')"; }
        sleep 0.2
    done
    [ "$state" = running ] || ct_exec "$name" 30 systemctl --failed --no-pager >&2
    log "$name: $release booted to '$state' in $((SECONDS - t0))s (PID 1 = host PID $leader)"
}

# ct_exec NAME TIMEOUT CMD...: CMD in every namespace of the container but the network, with a
# clean environment.
ct_exec() {
    local name=$1 timeout=$2 leader
    shift 2
    leader=$(cat "$STATE_ROOT/$name/leader" 2>/dev/null) || die "no container $name"
    timeout --kill-after=5 "$timeout" nsenter --target "$leader" --all -- \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb HOME=/root \
        DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

kill_tree() {
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
    kill -KILL "$1" 2>/dev/null
}

down() {
    local name=$1 st=$STATE_ROOT/$1 nspid leader dir d pid ns
    check_name "$name"
    nspid=$(cat "$st/nspawn.pid" 2>/dev/null)
    leader=$(cat "$st/leader" 2>/dev/null)
    # Commands still running in the container through nsenter would make its shutdown hang
    # (systemd-shutdown stops them, and nobody reaps them): kill them first. They share the
    # container's PID namespace but not its cgroup.
    if [ -n "$leader" ] && ns=$(readlink "/proc/$leader/ns/pid" 2>/dev/null); then
        for pid in /proc/[0-9]*; do
            pid=${pid#/proc/}
            [ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" = "$ns" ] || continue
            grep -q "/$name/" "/proc/$pid/cgroup" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
        done
    fi
    if [ -n "$nspid" ] && kill -0 "$nspid" 2>/dev/null; then
        # SIGTERM to systemd-nspawn: an orderly poweroff of the container.
        kill -TERM "$nspid"
        local deadline=$((SECONDS + 30))
        while kill -0 "$nspid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$nspid" 2>/dev/null; then
            log "$name did not stop within 30 s: SIGKILL"
            [ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
            kill -KILL "$nspid" 2>/dev/null
            sleep 1
        fi
    elif [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ]; then
        kill -KILL "$leader" 2>/dev/null   # nspawn died (SIGKILLed run): its PID 1 survives
        sleep 1
    fi
    for d in $(cgroup_dirs "$name"); do
        [ -d "$d" ] || continue
        # Whatever is left (a stale container whose nspawn state file was lost).
        find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
            kill_tree "$pid"
        done
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    dir=$(cat "$st/rootfs" 2>/dev/null || echo "/var/lib/machines/$name")
    case $dir in
        /var/lib/machines/jobu-ct-?*)
            mountpoint -q "$dir" && { umount "$dir" 2>/dev/null || umount -l "$dir"; }
            rm -rf --one-file-system "$dir" ;;
    esac
    rm -f "/var/lib/machines/.#$name.lck"
    rm -rf "/run/systemd/nspawn/propagate/$name" "$st"
}

# reap: containers (and `run` copies) whose owner process is gone.
reap() {
    local d name pid start
    for d in "$STATE_ROOT"/jobu-ct-*; do
        [ -d "$d" ] || continue
        name=${d##*/}
        read -r pid start <"$d/owner" 2>/dev/null
        if [ -n "${pid:-}" ] && [ "$(proc_start "$pid")" = "${start:-}" ]; then continue; fi
        log "reaping $name (its owner ${pid:-?} is gone)"
        down "$name"
    done
    for d in /var/lib/machines/jobu-ct-*; do
        [ -e "$d" ] && [ ! -d "$STATE_ROOT/${d##*/}" ] && { log "reaping orphan $d"; down "${d##*/}"; }
    done
    return 0
}

# run RELEASE KIND [--timeout S] [--bind HOST:CT]... -- CMD...: not booted, the caller waits.
run() {
    local release=$1 kind=$2 timeout=1800 binds=() tarball dir rc
    shift 2
    while [ $# -gt 0 ]; do
        case $1 in
            --timeout) timeout=$2; shift 2 ;;
            --bind) binds+=("--bind=$2"); shift 2 ;;
            --bind-ro) binds+=("--bind-ro=$2"); shift 2 ;;
            --) shift; break ;;
            *) die "run: unknown option $1" ;;
        esac
    done
    [ $# -gt 0 ] || die "run: no command"
    reap
    tarball=$(rootfs "$release" "$kind") || exit 1
    RUN_NAME=jobu-ct-run-$$    # global: the EXIT trap needs it
    mkdir -p "$STATE_ROOT/$RUN_NAME"
    echo "$$ $(proc_start $$)" >"$STATE_ROOT/$RUN_NAME/owner"
    dir=/var/lib/machines/$RUN_NAME
    echo "$dir" >"$STATE_ROOT/$RUN_NAME/rootfs"
    trap 'down "$RUN_NAME"' EXIT
    trap 'exit 143' TERM INT HUP
    unpack "$tarball" "$dir" || die "cannot unpack $tarball"
    local env=() v
    for v in ${RUN_SETENV:-}; do env+=("--setenv=$v=${!v:-}"); done
    # nspawn hands its payload NOTIFY_SOCKET (for READY=1 to nspawn): not for the command run.
    (nspawn "$RUN_NAME" "$dir" --quiet --pipe --as-pid2 "${binds[@]}" "${env[@]}" \
        --setenv=DEBIAN_FRONTEND=noninteractive --setenv=LANG=C.UTF-8 \
        -- env -u NOTIFY_SOCKET timeout --kill-after=10 "$timeout" "$@") &
    wait $!
    rc=$?
    return $rc
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    rootfs) [ $# -ge 2 ] || die "usage: container.sh rootfs RELEASE KIND [--check]"; rootfs "$@" ;;
    up) [ $# -ge 2 ] || die "usage: container.sh up NAME RELEASE [--owner PID] [--bind-ro H:C]..."; up "$@" ;;
    exec)
        [ $# -ge 1 ] || die "usage: container.sh exec NAME [--timeout S] [--] CMD..."
        name=$1; timeout=120; shift
        [ "${1:-}" = --timeout ] && { timeout=$2; shift 2; }
        [ "${1:-}" = -- ] && shift
        ct_exec "$name" "$timeout" "$@" ;;
    down) [ $# -eq 1 ] || die "usage: container.sh down NAME"; down "$1" ;;
    run) [ $# -ge 3 ] || die "usage: container.sh run RELEASE KIND [...] -- CMD..."; run "$@" ;;
    reap) reap ;;
    *) sed -n '2,/^set -uo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
