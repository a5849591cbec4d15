#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2317  # '$..' is for the container or dpkg; checks run indirectly
# packaging/e2e/run-e2e.sh — the jobu .deb as an operator meets it: installed with apt, run with
# systemctl, read with journalctl, in a booted Debian 12 systemd (systemd-nspawn container).
#
#   run-e2e.sh [--deb FILE] [--results-dir DIR]    run everything
#   run-e2e.sh --list                              print the check names, one a line
#
# Without --deb it first builds dist/jobu_<version>_all.deb with packaging/build-deb.sh (checks
# deb-build and lintian). Each check is reported on its own as PASS or FAIL with its reason; a
# check whose precondition failed is reported FAIL "not run: it needs ...". The last line is
# "e2e: N passed, M failed"; the exit status is 0 only when every check passed. --results-dir DIR
# (default dist/e2e) receives results.tsv (status, check, seconds, reason; one line per check)
# and checks/NAME.log (what each check saw), which tests/package/test_deb.py turns into tests.
#
# How (see shared/reference/systemd-container.md for why each piece is there): a minimal bookworm
# rootfs (systemd, dbus, apt, python3) made by mmdebstrap and cached as a tarball under
# $CACHE_DIR, keyed by everything that shapes it; a throwaway copy on a tmpfs under
# /var/lib/machines booted with `systemd-nspawn --boot --register=no --keep-unit` in a cgroup of
# its own, sharing the host's network (apt inside reaches the registry as the host does); commands
# enter it with nsenter. The container is stopped and its rootfs removed on every exit, also on
# failure and on SIGTERM/INT/HUP (a run that stops early also reports "e2e-script" FAIL); a run
# that was SIGKILLed is cleaned up by the next one.
#
# Needs root and a Debian 12 host whose apt reaches Debian's registry; installs
# systemd-container and mmdebstrap with apt when missing.
#
# Environment (all optional):
#   CACHE_DIR=/var/cache/jobu-e2e  CACHE_MAX_AGE_DAYS=7  REFRESH_CACHE=1 (rebuild the rootfs)
#   KEEP=1        leave the container running at the end (prints how to enter and stop it)
#   MACHINE=jobu-e2e-<pid>   BOOT_TIMEOUT=60
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

# ------------------------------------------------------------------------------- the checks --
# name | the checks it needs (comma-separated) | function. Order matters: each check leaves the
# container as the next one expects it.
CHECKS=(
    "deb-build||check_deb_build"
    "lintian|deb-build|check_lintian"
    "container-boot|deb-build|check_container_boot"
    "apt-install|container-boot|check_apt_install"
    "install-layout|apt-install|check_install_layout"
    "postinst-migrate|apt-install|check_postinst_migrate"
    "unit-enablement|apt-install|check_unit_enablement"
    "units-verify|apt-install|check_units_verify"
    "security-jobu-dispatcher|apt-install|check_security jobu-dispatcher.service"
    "security-jobu-worker|apt-install|check_security jobu-worker.service"
    "security-jobu-worker@|apt-install|check_security jobu-worker@e2e.service"
    "security-jobu-queued|apt-install|check_security jobu-queued.service"
    "sandbox-psycopg|apt-install|check_sandbox_psycopg"
    "ready-jobu-worker|apt-install|check_ready jobu-worker.service"
    "ready-jobu-dispatcher|apt-install|check_ready jobu-dispatcher.service"
    "cron-noop-success|ready-jobu-dispatcher,ready-jobu-worker|check_cron_noop"
    "journal-dispatcher|cron-noop-success|check_journal_dispatcher"
    "journal-worker|cron-noop-success|check_journal_worker"
    "journal-plain-worker|ready-jobu-worker|check_journal_plain_lines jobu-worker.service"
    "journal-plain-dispatcher|ready-jobu-dispatcher|check_journal_plain_lines jobu-dispatcher.service"
    "reload-jobu-worker|ready-jobu-worker|check_reload jobu-worker.service"
    "reload-jobu-dispatcher|ready-jobu-dispatcher|check_reload jobu-dispatcher.service"
    "template-worker|ready-jobu-worker|check_template_worker"
    "stop-drains|ready-jobu-worker|check_stop_drains"
    "watchdog-restart|ready-jobu-worker|check_watchdog_restart"
    "bad-config-no-restart-loop|apt-install|check_bad_config"
    "target-stops-all|ready-jobu-worker|check_target_stops_all"
    "reinstall-upgrade|apt-install|check_reinstall"
    "postinst-other-database|apt-install|check_postinst_other_database"
    "remove-keeps-config|apt-install|check_remove"
    "purge-leaves-nothing|remove-keeps-config|check_purge"
)

if [ "${1:-}" = --list ]; then
    for c in "${CHECKS[@]}"; do echo "${c%%|*}"; done
    exit 0
fi

DEB=
RESULTS_DIR=$TOP/dist/e2e
while [ $# -gt 0 ]; do
    case $1 in
        --deb) DEB=$(realpath "${2:?--deb FILE}"); shift 2 ;;
        --results-dir) RESULTS_DIR=${2:?--results-dir DIR}; shift 2 ;;
        *) echo "usage: run-e2e.sh [--deb FILE] [--results-dir DIR] | --list" >&2; exit 2 ;;
    esac
done

SUITE=bookworm
CACHE_DIR=${CACHE_DIR:-/var/cache/jobu-e2e}
CACHE_MAX_AGE_DAYS=${CACHE_MAX_AGE_DAYS:-7}
REFRESH_CACHE=${REFRESH_CACHE:-0}
KEEP=${KEEP:-0}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}
MACHINE=${MACHINE:-jobu-e2e-$$}
OWNER_DIR=/run/jobu-e2e   # MACHINE.owner: "PID start-time" of the run that owns the container
case $MACHINE in
    jobu-e2e-*[!A-Za-z0-9_.-]*|*/*) echo "bad MACHINE name '$MACHINE'" >&2; exit 2 ;;
    jobu-e2e-?*) ;;
    *) echo "MACHINE must start with jobu-e2e- (got '$MACHINE')" >&2; exit 2 ;;
esac
ROOTFS=/var/lib/machines/$MACHINE
# The rootfs has systemd and python3, but none of jobu's dependencies: `apt install ./jobu.deb`
# must fetch those from the registry (check apt-install).
ROOTFS_PACKAGES=systemd,systemd-sysv,dbus,libpam-systemd,ca-certificates,python3
ROOTFS_RECIPE=3   # bump when the mmdebstrap command below changes
# The shipped WatchdogSec=30s would make the watchdog check take a minute; the check shortens it
# with a drop-in (the way an administrator would) and says so.
E2E_WATCHDOG_SEC=6
# What the daemons' tests wait for at most (a working daemon needs a fraction of these).
EXEC_DEADLINE=25

WORK=$(mktemp -d "/tmp/$MACHINE.XXXXXX")
exec 3>&1 4>&2          # the real stdout/stderr, restored by on_exit
NSPAWN_PID=
LEADER=                 # host PID of the container's PID 1 (its systemd)
ROOTFS_OWNED=0
CGROUP_DIRS=()
MOUNTS=()               # tmpfs mounts of this run, unmounted by cleanup
PASSED=0
FAILED=0
declare -A STATUS=()
DETAIL=
T_START=${EPOCHREALTIME/./}

mkdir -p "$RESULTS_DIR/checks"
RESULTS=$RESULTS_DIR/results.tsv
: >"$RESULTS"
rm -f "$RESULTS_DIR"/checks/*.log

# ------------------------------------------------------------------------------- helpers --
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }
say() { echo "$*"; }                      # evidence line of the running check
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# secs_since T0_MS: seconds since T0_MS, one decimal
secs_since() { local d=$(($(now_ms) - $1)); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }

# in_ct CMD...: run CMD in the container (all its namespaces but the network, which is the
# host's), with a clean environment, bounded by CT_TIMEOUT seconds. In the background + wait, so
# that SIGTERM/SIGINT reach our trap at once (bash defers traps during a foreground command).
in_ct() {
    timeout --kill-after=5 "${CT_TIMEOUT:-120}" \
        nsenter --target "$LEADER" --all -- \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb HOME=/root \
            DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@" &
    wait "$!"
}
# in_ct_stdin CMD...: the same, CMD reading this script's standard input (a background command
# gets /dev/null unless told otherwise).
in_ct_stdin() {
    timeout --kill-after=5 "${CT_TIMEOUT:-120}" \
        nsenter --target "$LEADER" --all -- \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@" <&0 &
    wait "$!"
}
ctsh() { in_ct sh -c "$1"; }
# prop UNIT PROPERTY: one property of a unit in the container
prop() { in_ct systemctl show --value -p "$2" "$1" 2>/dev/null; }
state() { echo "$(prop "$1" ActiveState)/$(prop "$1" SubState)"; }
# the whole journal's cursor now; journal_since CURSOR ARGS...: entries after it
cursor() { in_ct journalctl -n 1 -o export --no-pager 2>/dev/null | sed -n 's/^__CURSOR=//p'; }
journal_since() {
    local c=$1; shift
    if [ -n "$c" ]; then in_ct journalctl --no-pager --after-cursor="$c" "$@"
    else in_ct journalctl --no-pager "$@"; fi
}
# py EXPR: evaluate EXPR with d = the JSON read from stdin (on the host), print the result
py() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
# exec_field ID FIELD: a field of execution ID (jobu jobs show ID --json), empty if unknown
exec_field() { in_ct jobu jobs show "$1" --json 2>/dev/null | py "d.get('$2')" 2>/dev/null; }
# wait_until SECONDS CMD...: poll CMD every 0.3 s until it succeeds; 1 when the time is up
wait_until() {
    local deadline=$(($(now_ms) + $1 * 1000)); shift
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.3
    done
}
exec_status_is() { [ "$(exec_field "$1" status)" = "$2" ]; }
exec_finished() { case $(exec_field "$1" status) in SUCCESS|FAILED|TIMEOUT|CANCELLED) return 0 ;; esac; return 1; }
unit_running() { [ "$(state "$1")" = active/running ]; }
# restarted_since UNIT N: UNIT was restarted (NRestarts > N) and runs again
restarted_since() { local n; n=$(prop "$1" NRestarts); [ "${n:-0}" -gt "$2" ] && unit_running "$1"; }
# why UNIT: a few words on a unit that is not as expected, and its last journal lines
why() {
    say "  $1: $(state "$1"), Result=$(prop "$1" Result), ExecMainStatus=$(prop "$1" ExecMainStatus), NRestarts=$(prop "$1" NRestarts)"
    in_ct journalctl -u "$1" -n 12 -o cat --no-pager 2>/dev/null | sed 's/^/    | /'
}
# execution ID (the only token on an output line of `jobu enqueue`)
enqueue() { in_ct jobu enqueue "$@" | tail -n 1; }

# run_check NAME NEEDS FUNCTION [ARGS]: run a check, record PASS/FAIL with DETAIL
run_check() {
    local name=$1 needs=$2 fn=$3 t0 rc n missing=
    shift 3
    for n in ${needs//,/ }; do
        [ "${STATUS[$n]:-}" = pass ] || missing+="${missing:+, }$n (${STATUS[$n]:-not run})"
    done
    if [ -n "$missing" ]; then
        DETAIL="not run: it needs $missing"
        : >"$RESULTS_DIR/checks/$name.log"
        record "$name" fail 0.0
        return
    fi
    log "---- $name"
    DETAIL=
    t0=$(now_ms)
    "$fn" "$@" >"$RESULTS_DIR/checks/$name.log" 2>&1
    rc=$?
    sed 's/^/    /' "$RESULTS_DIR/checks/$name.log"
    [ -n "$DETAIL" ] || DETAIL="(no detail; exit status $rc)"
    if [ "$rc" -eq 0 ]; then record "$name" pass "$(secs_since "$t0")"
    else record "$name" fail "$(secs_since "$t0")"; fi
}
record() {
    local name=$1 status=$2 secs=$3
    STATUS[$name]=$status
    if [ "$status" = pass ]; then PASSED=$((PASSED + 1)); log "PASS: $name (${secs}s): $DETAIL"
    else FAILED=$((FAILED + 1)); log "FAIL: $name (${secs}s): $DETAIL"; fi
    printf '%s\t%s\t%s\t%s\n' "$status" "$name" "$secs" "$(printf '%s' "$DETAIL" | tr '\t\n' '  ')" \
        >>"$RESULTS"
}
ok() { DETAIL="$*"; return 0; }
bad() { DETAIL="$*"; return 1; }

# ----------------------------------------------------------------------------- teardown --
kill_tree() {
    local p=$1 c
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do kill_tree "$c"; done
    kill -KILL "$p" 2>/dev/null
}
# SIGKILL, by PID, what this script started except systemd-nspawn: an nsenter still running
# when the container shuts down would make its shutdown hang for 90 s.
kill_helpers() {
    local k
    for k in $(ps -o pid= --ppid $$ 2>/dev/null); do
        [ "$k" = "$NSPAWN_PID" ] || kill_tree "$k"
    done
}
stop_container() {
    [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null || return 0
    local t0; t0=$(now_ms)
    # SIGTERM to systemd-nspawn: it asks the container's systemd for an orderly poweroff.
    kill -TERM "$NSPAWN_PID"
    wait_until 30 eval '! kill -0 "$NSPAWN_PID" 2>/dev/null'
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
        log "container did not stop within 30 s: SIGKILL to its PID 1 and to systemd-nspawn"
        [ -n "$LEADER" ] && kill -KILL "$LEADER" 2>/dev/null
        kill -KILL "$NSPAWN_PID" 2>/dev/null
        sleep 1
        rm -f "/var/lib/machines/.#$MACHINE.lck"
        rm -rf "/run/systemd/nspawn/propagate/$MACHINE"
    fi
    wait "$NSPAWN_PID" 2>/dev/null
    log "container stopped in $(secs_since "$t0")s"
}
cleanup() {
    local d
    kill_helpers
    if [ "$KEEP" = 1 ] && [ -n "$NSPAWN_PID" ]; then
        log "KEEP=1: container $MACHINE left running: nsenter --target $LEADER --all bash;" \
            "stop it with: kill -TERM $NSPAWN_PID; then rm -rf $ROOTFS $WORK"
        return
    fi
    stop_container
    local t0; t0=$(now_ms)
    # Our cgroups (empty once the container is gone; its systemd leaves payload/init.scope).
    for d in "${CGROUP_DIRS[@]}"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    local m i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        m=${MOUNTS[i]}
        umount "$m" 2>/dev/null || umount -l "$m"
    done
    if [ "$ROOTFS_OWNED" = 1 ]; then
        case $ROOTFS in /var/lib/machines/jobu-e2e-?*) rm -rf --one-file-system "$ROOTFS" ;; esac
    fi
    rm -rf --one-file-system "$WORK"
    rm -f "$OWNER_DIR/$MACHINE.owner"
    log "rootfs and cgroups removed in $(secs_since "$t0")s"
}
on_exit() {
    local rc=$?
    trap - EXIT TERM INT HUP
    exec 1>&3 2>&4      # undo a redirection that was active when we were interrupted
    set +e
    if [ "$rc" -ne 0 ]; then
        DETAIL="the e2e script stopped early (exit status $rc); see its output"
        record e2e-script fail 0.0
    fi
    # Checks never reached (interrupted run) are reported too.
    local c name
    for c in "${CHECKS[@]}"; do
        name=${c%%|*}
        if [ -z "${STATUS[$name]:-}" ]; then
            DETAIL="not run: the e2e script stopped before it"
            record "$name" fail 0.0
        fi
    done
    cleanup
    log "total $(secs_since $((T_START / 1000)))s; results in $RESULTS"
    echo "e2e: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && exit 0
    exit 1
}
trap on_exit EXIT
# Without these bash would run the EXIT trap with $? = 0 after a signal.
trap 'log "interrupted by SIGTERM" >&3; exit 143' TERM
trap 'log "interrupted by SIGINT" >&3; exit 130' INT
trap 'log "interrupted by SIGHUP" >&3; exit 129' HUP

die() { log "FATAL: $*"; exit 1; }

# -------------------------------------------------------------------- host preparation --
[ "$(id -u)" = 0 ] || die "must run as root (systemd-nspawn, namespaces, cgroups)"

# A run that was SIGKILLed (e.g. by a CI timeout) could not clean up, and its container (and
# systemd-nspawn, if it survived) run on. Each run writes its PID and that process's start time to
# $OWNER_DIR/MACHINE.owner; a jobu-e2e-* container or rootfs whose run is gone is stale: SIGKILL
# its systemd-nspawn and its PID 1 (which ends every process in the container), then unmount and
# remove its rootfs and cgroups. Live runs are left alone.
# proc_start PID: the start time of process PID (field 22 of /proc/PID/stat), empty if none
proc_start() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
run_is_alive() {
    local f=$OWNER_DIR/$1.owner pid start d
    if [ -f "$f" ]; then
        read -r pid start <"$f"
        [ -n "$pid" ] && [ "$(proc_start "$pid")" = "$start" ]
        return
    fi
    # No owner file (a run from before it was written): alive while its nspawn is.
    for d in /sys/fs/cgroup/systemd/$1 /sys/fs/cgroup/unified/$1 /sys/fs/cgroup/$1; do
        [ -s "$d/cgroup.procs" ] || [ -s "$d/supervisor/cgroup.procs" ] && return 0
    done
    return 1
}
reap_stale() {
    local names=() name d pid nspid m
    for d in /sys/fs/cgroup/systemd/jobu-e2e-* /sys/fs/cgroup/unified/jobu-e2e-* \
            /sys/fs/cgroup/jobu-e2e-* /var/lib/machines/jobu-e2e-*; do
        [ -d "$d" ] && names+=("${d##*/}")
    done
    for name in $(printf '%s\n' "${names[@]}" | sort -u); do
        [ "$name" = "$MACHINE" ] && continue
        run_is_alive "$name" && continue
        log "reaping stale container $name (its run is gone)"
        for d in /sys/fs/cgroup/systemd/$name /sys/fs/cgroup/unified/$name /sys/fs/cgroup/$name; do
            [ -d "$d" ] || continue
            # systemd-nspawn, if it survived, and the container's PID 1.
            # shellcheck disable=SC2013  # cgroup.procs files hold one numeric PID per line
            for pid in $(cat "$d/supervisor/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
            # shellcheck disable=SC2044
            for pid in $(find "$d/payload" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$pid/status" 2>/dev/null)
                [ "$nspid" = 1 ] && kill -KILL "$pid" 2>/dev/null
            done
        done
        sleep 1
        for d in /sys/fs/cgroup/systemd/$name /sys/fs/cgroup/unified/$name /sys/fs/cgroup/$name; do
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        if [ -d "/var/lib/machines/$name" ]; then
            mountpoint -q "/var/lib/machines/$name" && umount -l "/var/lib/machines/$name"
            rm -rf --one-file-system "/var/lib/machines/$name"
        fi
        for m in "/tmp/$name".??????/mmdebstrap; do
            mountpoint -q "$m" && umount -l "$m"
        done
        rm -rf --one-file-system "/tmp/$name".??????
        rm -f "/var/lib/machines/.#$name.lck" "$OWNER_DIR/$name.owner"
        rm -rf "/run/systemd/nspawn/propagate/$name"
    done
}
mkdir -p "$OWNER_DIR"
echo "$$ $(proc_start $$)" >"$OWNER_DIR/$MACHINE.owner"
reap_stale

t0=$(now_ms)
tools=()
command -v systemd-nspawn >/dev/null || tools+=(systemd-container)
command -v mmdebstrap >/dev/null || tools+=(mmdebstrap)
command -v nsenter >/dev/null || tools+=(util-linux)
command -v ps >/dev/null || tools+=(procps)
if [ ${#tools[@]} -gt 0 ]; then
    log "installing host tools: ${tools[*]}"
    # systemd-container needs the same version of systemd: this may upgrade the host's (unused)
    # systemd package too.
    bash "$TOP/packaging/apt-ensure.sh" "${tools[@]}" >"$WORK/host-apt.log" 2>&1 \
        || { cat "$WORK/host-apt.log"; die "could not install ${tools[*]}"; }
    log "host tools installed in $(secs_since "$t0")s"
fi

# ------------------------------------------------------------------------ the checks --
check_deb_build() {
    if [ -n "$DEB" ]; then
        [ -f "$DEB" ] || bad "--deb $DEB: no such file" || return
        say "using $DEB"
        ok "given: $DEB"; return
    fi
    bash "$TOP/packaging/build-deb.sh" --no-lintian || bad "packaging/build-deb.sh failed (above)" || return
    local version
    version=$(sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' "$TOP/jobu/__init__.py")
    DEB=$TOP/dist/jobu_${version}_all.deb
    [ -f "$DEB" ] || bad "build-deb.sh did not write $DEB" || return
    ok "built $(basename "$DEB") ($(du -h "$DEB" | cut -f1))"
}

check_lintian() {
    if bash "$TOP/packaging/build-deb.sh" --lint "$DEB"; then
        ok "lintian --fail-on error,warning: no errors, no warnings"
    else
        bad "lintian reports errors or warnings (above)"
    fi
}

rootfs_tarball() {
    local sources=/etc/apt/sources.list.d/debian.sources key
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    # The key covers what shapes the tarball: suite, packages, recipe, the registry's sources.
    key=$(printf '%s\n' "$SUITE" "$ROOTFS_PACKAGES" "$ROOTFS_RECIPE" | cat - "$sources" \
        | sha256sum | cut -c1-12)
    TARBALL=$CACHE_DIR/$SUITE-systemd-$key.tar
    mkdir -p "$CACHE_DIR"
    # Concurrent runs: one builds, the others wait for it.
    exec {lock_fd}>"$CACHE_DIR/.lock"
    flock "$lock_fd"
    if [ "$REFRESH_CACHE" = 1 ] || [ ! -s "$TARBALL" ] \
            || [ -n "$(find "$TARBALL" -mtime +"$CACHE_MAX_AGE_DAYS" 2>/dev/null)" ]; then
        local t0; t0=$(now_ms)
        say "building $TARBALL with mmdebstrap (apt sources: $sources)"
        rm -f "$TARBALL.tmp"
        # mmdebstrap builds the chroot under TMPDIR: a tmpfs spares the disk thousands of fsyncs.
        mkdir -p "$WORK/mmdebstrap" && mount -t tmpfs -o mode=0755,size=4g tmpfs "$WORK/mmdebstrap" \
            && MOUNTS+=("$WORK/mmdebstrap")
        # --aptopt lines go to the rootfs's apt.conf.d, so apt inside behaves as the host's: the
        # registry here serves a dated snapshot (Release files may be past Valid-Until).
        # --dpkgopt=force-unsafe-io (kept in the rootfs): no fsync per file, in a throwaway system.
        # Hooks: a hostname; an empty machine-id (a fresh one per boot); no apt timers that could
        # take the dpkg lock mid-test; no getty.
        if ! TMPDIR=$WORK/mmdebstrap mmdebstrap --quiet --variant=apt --format=tar \
                --include="$ROOTFS_PACKAGES" \
                --aptopt='Acquire::Check-Valid-Until "false"' \
                --aptopt='Acquire::Languages "none"' \
                --dpkgopt=force-unsafe-io \
                --customize-hook='echo jobu-e2e > "$1/etc/hostname"' \
                --customize-hook='printf "127.0.0.1\tlocalhost jobu-e2e\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"' \
                --customize-hook=': > "$1/etc/machine-id"' \
                --customize-hook='systemctl --root="$1" mask apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer console-getty.service' \
                "$SUITE" "$TARBALL.tmp" "$sources"; then
            flock -u "$lock_fd"
            return 1
        fi
        mv "$TARBALL.tmp" "$TARBALL"
        umount "$WORK/mmdebstrap" && unset 'MOUNTS[-1]'
        find "$CACHE_DIR" -maxdepth 1 -name "$SUITE-systemd-*.tar" ! -path "$TARBALL" -delete
        say "rootfs tarball built in $(secs_since "$t0")s ($(du -h "$TARBALL" | cut -f1))"
    else
        say "cached rootfs: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
    fi
    # Unpack under the lock: a concurrent rebuild would replace the tarball.
    [ -e "$ROOTFS" ] && { flock -u "$lock_fd"; say "$ROOTFS exists already"; return 1; }
    # The throwaway copy lives in memory (about 450 MB once jobu is installed): dpkg inside is
    # fast, and removing it is an unmount.
    mkdir -p "$ROOTFS" && ROOTFS_OWNED=1
    mount -t tmpfs -o mode=0755,size=3g "tmpfs-$MACHINE" "$ROOTFS" && MOUNTS+=("$ROOTFS")
    tar --numeric-owner -xpf "$TARBALL" -C "$ROOTFS"
    local rc=$?
    flock -u "$lock_fd"
    return "$rc"
}

check_container_boot() {
    local t0 d pid st=
    t0=$(now_ms)
    rootfs_tarball || bad "could not build or unpack the $SUITE rootfs (above)" || return
    say "rootfs ready in $(secs_since "$t0")s"
    mkdir -p "$WORK/debs" && cp "$DEB" "$WORK/debs/" || bad "cannot copy $DEB" || return
    # A cgroup of our own: with --keep-unit nspawn splits the cgroup it starts in into
    # supervisor/ and payload/; from the root cgroup two runs at once would collide.
    if [ ! -d /run/systemd/system ]; then
        if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
            CGROUP_DIRS=("/sys/fs/cgroup/$MACHINE")
        else
            [ -d /sys/fs/cgroup/systemd ] && CGROUP_DIRS+=("/sys/fs/cgroup/systemd/$MACHINE")
            [ -d /sys/fs/cgroup/unified ] && CGROUP_DIRS+=("/sys/fs/cgroup/unified/$MACHINE")
        fi
        mkdir -p "${CGROUP_DIRS[@]}" || bad "cannot create cgroups ${CGROUP_DIRS[*]}" || return
    fi
    # --register=no --keep-unit: the host has no machined and no systemd to ask for a scope.
    # --timezone=off: no read-only /etc/localtime bind mount (tzdata's postinst needs to replace
    #   it). No --private-network: apt inside reaches the registry as the host does.
    (
        for d in "${CGROUP_DIRS[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
        exec systemd-nspawn --boot --directory="$ROOTFS" --machine="$MACHINE" \
            --register=no --keep-unit --console=read-only --timezone=off \
            --resolv-conf=copy-host --bind-ro="$WORK/debs:/srv/debs"
    ) </dev/null >"$WORK/console.log" 2>&1 &
    NSPAWN_PID=$!
    local deadline=$(($(now_ms) + BOOT_TIMEOUT * 1000))
    while [ -z "$LEADER" ]; do
        kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$WORK/console.log"; bad "systemd-nspawn exited during boot (console above)"; return; }
        [ "$(now_ms)" -lt "$deadline" ] || bad "the container's PID 1 did not appear" || return
        for pid in $(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null); do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ] && LEADER=$pid
        done
        [ -n "$LEADER" ] || sleep 0.1
    done
    while :; do
        st=$(CT_TIMEOUT=$BOOT_TIMEOUT in_ct systemctl is-system-running --wait 2>/dev/null) && break
        case $st in running|degraded) break ;; esac
        [ "$(now_ms)" -lt "$deadline" ] || { tail -n 30 "$WORK/console.log"; bad "the container did not finish booting (state '$st')"; return; }
        sleep 0.2
    done
    [ "$st" = running ] || in_ct systemctl --failed --no-pager
    ok "$SUITE container booted to '$st' (systemd $(in_ct systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'), PID 1 = host PID $LEADER) in $(secs_since "$t0")s"
}

check_apt_install() {
    local deb_name t0 present_before
    deb_name=$(basename "$DEB")
    present_before=$(in_ct dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' python3-croniter python3-flask gunicorn 2>/dev/null | grep -c '^ii')
    [ "$present_before" = 0 ] || bad "the rootfs already has jobu's dependencies: nothing would prove apt fetches them" || return
    t0=$(now_ms)
    in_ct apt-get -q update >"$WORK/apt-update.log" 2>&1 \
        || { tail -n 20 "$WORK/apt-update.log"; bad "apt-get update failed in the container"; return; }
    # Exactly what an operator does.
    CT_TIMEOUT=300 in_ct sh -c "cd /srv/debs && apt install -y ./$deb_name" >"$WORK/apt.log" 2>&1
    local rc=$?
    cp "$WORK/apt.log" "$RESULTS_DIR/apt-install.log"
    grep -E '^(Fetched|Setting up (jobu|gunicorn|python3-(croniter|flask|psycopg|sdnotify|kafka)) )' "$WORK/apt.log"
    say "postinst said:"
    sed -n '/^Setting up jobu /,$p' "$WORK/apt.log" | grep -v '^Processing triggers' | sed 's/^/  | /'
    [ "$rc" -eq 0 ] || { tail -n 30 "$WORK/apt.log"; bad "apt install ./$deb_name failed (exit $rc)"; return; }
    local st deps
    st=$(in_ct dpkg-query -W -f='${db:Status-Abbrev}${Version}' jobu 2>/dev/null)
    deps=$(in_ct dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' python3-croniter python3-marshmallow \
        python3-yaml python3-psycopg python3-psycopg-pool python3-pymysql python3-sdnotify \
        python3-flask gunicorn python3-kafka 2>/dev/null | grep -c '^ii')
    [ "${st:0:2}" = ii ] || bad "jobu is not installed after apt install (status '$st')" || return
    [ "$deps" = 10 ] || bad "only $deps of jobu's 10 Debian dependencies are installed" || return
    grep -q '^Fetched ' "$WORK/apt.log" || bad "apt fetched nothing from the registry" || return
    ok "apt install ./$deb_name: jobu ${st:3} installed with its 10 dependencies fetched from Debian's registry in $(secs_since "$t0")s"
}

check_install_layout() {
    local problems=() pw f mode v
    pw=$(in_ct getent passwd jobu)
    say "passwd: $pw"
    IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
    [ -n "$pw" ] || problems+=("no user jobu")
    [ -n "$pw" ] && { [ "$uid" -lt 1000 ] || problems+=("jobu's uid $uid is not a system uid"); }
    [ -n "$pw" ] && [ "$home" != /var/lib/jobu ] && problems+=("jobu's home is $home")
    [ -n "$pw" ] && [ "$shell" != /usr/sbin/nologin ] && problems+=("jobu's shell is $shell")
    in_ct getent group jobu >/dev/null || problems+=("no group jobu")
    for f in $(in_ct sh -c 'ls /etc/jobu/*.yaml'); do
        mode=$(in_ct stat -c '%a %U:%G' "$f")
        say "$f: $mode"
        [ "$mode" = "640 root:jobu" ] || problems+=("$f is $mode, not 640 root:jobu")
    done
    [ "$(in_ct sh -c 'ls /etc/jobu/*.yaml | wc -l')" -ge 5 ] || problems+=("fewer than 5 files in /etc/jobu")
    mode=$(in_ct stat -c '%a %U:%G' /var/lib/jobu)
    say "/var/lib/jobu: $mode"
    [ "$mode" = "750 jobu:jobu" ] || problems+=("/var/lib/jobu is $mode, not 750 jobu:jobu")
    for f in admin database dispatcher queue worker; do
        in_ct dpkg-query -W -f='${Conffiles}\n' jobu | grep -q " /etc/jobu/$f.yaml " \
            || problems+=("/etc/jobu/$f.yaml is not a conffile")
    done
    in_ct test -f /usr/share/man/man1/jobu.1.gz || problems+=("no man page jobu(1)")
    v=$(in_ct jobu --version 2>&1)
    say "jobu --version: $v"
    [ "$v" = "jobu $(in_ct dpkg-query -W -f='${Version}' jobu)" ] || problems+=("'jobu --version' says '$v', not the package's version")
    [ ${#problems[@]} -eq 0 ] || bad "$(IFS=';'; echo "${problems[*]}")" || return
    ok "system user and group jobu (uid $uid, nologin); /etc/jobu/*.yaml conffiles 0640 root:jobu; /var/lib/jobu 0750 jobu:jobu; jobu(1); $v"
}

check_postinst_migrate() {
    local db dry
    db=$(in_ct stat -c '%U:%G %a' /var/lib/jobu/jobu.db 2>&1) || bad "postinst made no /var/lib/jobu/jobu.db" || return
    say "/var/lib/jobu/jobu.db: $db"
    grep -E '^applied ' "$WORK/apt.log" | sed 's/^/postinst: /'
    dry=$(in_ct runuser -u jobu -- jobu migrate --dry-run 2>&1)
    say "jobu migrate --dry-run: $dry"
    [ "${db%% *}" = jobu:jobu ] || bad "jobu.db belongs to ${db%% *}, not jobu:jobu" || return
    grep -q 'up to date' <<<"$dry" || bad "the database is not up to date after the install: $dry" || return
    grep -q '^applied ' "$WORK/apt.log" || bad "the postinst output shows no 'applied ...' migration" || return
    ok "postinst migrated /var/lib/jobu/jobu.db as jobu ($(grep -c '^applied ' "$WORK/apt.log") migration(s)); 'jobu migrate --dry-run': up to date"
}

check_unit_enablement() {
    local problems=() u e
    for u in jobu-dispatcher.service jobu-worker.service jobu.target; do
        e=$(in_ct systemctl is-enabled "$u" 2>&1); say "$u: $e"
        [ "$e" = enabled ] || problems+=("$u is $e, not enabled")
    done
    e=$(in_ct systemctl is-enabled jobu-queued.service 2>&1); say "jobu-queued.service: $e, $(state jobu-queued.service)"
    [ "$e" = disabled ] || problems+=("jobu-queued.service is $e, not disabled")
    [ "$(prop jobu-queued.service ActiveState)" = inactive ] || problems+=("jobu-queued.service was started")
    e=$(prop jobu-worker@e2e.service LoadState); say "jobu-worker@e2e.service: $e"
    [ "$e" = loaded ] || problems+=("the template jobu-worker@.service does not load ($e)")
    [ ${#problems[@]} -eq 0 ] || bad "$(IFS=';'; echo "${problems[*]}")" || return
    ok "jobu-dispatcher, jobu-worker and jobu.target enabled; jobu-queued installed, disabled and not started; jobu-worker@.service loads"
}

check_units_verify() {
    local out
    out=$(in_ct systemd-analyze verify jobu-dispatcher.service jobu-worker.service \
        jobu-worker@e2e.service jobu-queued.service jobu.target 2>&1)
    local rc=$?
    [ -n "$out" ] && say "$out"
    # verify runs man(1) for Documentation=man:jobu(1); the minimal rootfs has no man-db.
    if ! in_ct sh -c 'command -v man' >/dev/null; then
        out=$(grep -v "Command 'man jobu(1)' failed with code" <<<"$out")
        grep -q "Command 'man" <<<"$out" || rc=0
        say "(no man(1) in the container: its complaints about Documentation=man:jobu(1) are ignored)"
    fi
    [ "$rc" -eq 0 ] && [ -z "$out" ] || bad "systemd-analyze verify complains: $(head -n 3 <<<"$out" | tr '\n' ' ')" || return
    ok "systemd-analyze verify: the five units are clean"
}

check_security() {
    local unit=$1 out score
    out=$(in_ct systemd-analyze security --no-pager "$unit" 2>&1)
    grep -E '^✗' <<<"$out" | head -n 20
    score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
    say "${out##*$'\n'}"
    [ -n "$score" ] || bad "no exposure level in: $(tail -n 2 <<<"$out" | tr '\n' ' ')" || return
    awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' \
        || bad "systemd-analyze security rates $unit $score, above 2.0" || return
    ok "systemd-analyze security $unit: $score (at most 2.0)"
}

# The worker's sandbox, as shipped, must not break python3-psycopg (which calls libpq through
# ctypes): a oneshot copy of jobu-worker.service with another ExecStart.
check_sandbox_psycopg() {
    local probe=e2e-sandbox-probe.service out rc
    ctsh "sed -e '/^ExecStart=/d' -e '/^ExecReload=/d' -e '/^WatchdogSec=/d' -e '/^Restart=/d' \
            -e '/^PartOf=/d' -e 's/^Type=notify/Type=oneshot/' -e '/^\[Install\]/,\$d' \
            /lib/systemd/system/jobu-worker.service > /etc/systemd/system/$probe" || bad "cannot write $probe" || return
    cat >"$WORK/probe.py" <<'EOF'
import psycopg, psycopg_pool, pymysql, sqlite3, jobu.config, jobu.store
print("psycopg", psycopg.__version__, "implementation", psycopg.pq.__impl__, "libpq", psycopg.pq.version())
try:  # a real libpq connection attempt; nothing listens on port 9 here
    psycopg.connect("host=127.0.0.1 port=9 dbname=x user=x connect_timeout=3")
except psycopg.OperationalError as error:
    print("libpq answered:", str(error).strip().splitlines()[0])
EOF
    in_ct_stdin sh -c "cat > /etc/systemd/system/e2e-sandbox-probe.py" <"$WORK/probe.py"
    # Its output to a file that systemd opens (before the sandbox applies).
    ctsh "printf '%s\n' 'ExecStart=/usr/bin/python3 /etc/systemd/system/e2e-sandbox-probe.py' \
        'StandardOutput=truncate:/run/e2e-sandbox-probe.out' 'StandardError=inherit' \
        >> /etc/systemd/system/$probe && systemctl daemon-reload"
    in_ct systemctl start "$probe"; rc=$?
    out=$(in_ct cat /run/e2e-sandbox-probe.out)
    say "$out"
    in_ct sh -c "rm -f /etc/systemd/system/$probe /etc/systemd/system/e2e-sandbox-probe.py /run/e2e-sandbox-probe.out \
        && systemctl daemon-reload && systemctl reset-failed" >/dev/null 2>&1
    [ "$rc" -eq 0 ] || bad "under jobu-worker.service's sandbox, importing or using psycopg failed: $(grep -E 'Error|error' <<<"$out" | tail -n 1)" || return
    grep -q 'libpq answered' <<<"$out" || bad "the probe did not reach libpq" || return
    ok "under jobu-worker.service's sandbox (User=jobu, SystemCallFilter, no MemoryDenyWriteExecute) psycopg $(sed -n 's/^psycopg \([^ ]*\).*/\1/p' <<<"$out") imports and libpq connects (refused, as expected)"
}

# `systemctl start jobu.target`, once, from stopped (postinst started the services already).
TARGET_STARTED=
start_target_once() {
    [ -n "$TARGET_STARTED" ] && return 0
    TARGET_STARTED=1
    in_ct systemctl stop jobu.target jobu-dispatcher.service jobu-worker.service
    in_ct systemctl reset-failed jobu-dispatcher.service jobu-worker.service 2>/dev/null
    local t0; t0=$(now_ms)
    # jobu.target is ordered after the services it wants: start returns once both sent READY=1
    # (or failed).
    CT_TIMEOUT=100 in_ct systemctl start jobu.target || say "systemctl start jobu.target failed"
    say "systemctl start jobu.target returned after $(secs_since "$t0")s"
}
check_ready() {
    local u=$1 st status_text gap
    start_target_once
    st=$(state "$u")
    status_text=$(prop "$u" StatusText)
    if [ "$st" != active/running ]; then
        why "$u"
        bad "after systemctl start jobu.target, $u is $st (Result=$(prop "$u" Result), exit status $(prop "$u" ExecMainStatus))"
        return
    fi
    gap=$(( ($(prop "$u" ActiveEnterTimestampMonotonic) - $(prop "$u" ExecMainStartTimestampMonotonic)) / 1000 ))
    say "$u: $st, Type=$(prop "$u" Type), MainPID $(prop "$u" MainPID), process start -> active ${gap} ms, StatusText='$status_text', NRestarts=$(prop "$u" NRestarts)"
    [ "$(prop "$u" Type)" = notify ] || bad "$u is not Type=notify" || return
    [ -n "$status_text" ] || bad "$u sent no STATUS=" || return
    ok "systemctl start jobu.target: $u active (running) once it sent READY=1 (Type=notify, ${gap} ms after its start), status '$status_text'"
}

CRON_EXEC=
# the newest execution of cron NAME, if any
cron_execution() { in_ct jobu jobs list --cron "$1" --json 2>/dev/null | py 'd["items"][0]["id"] if d["items"] else ""'; }
cron_has_execution() { [ -n "$(cron_execution "$1")" ]; }
check_cron_noop() {
    local at out t0 status
    # A one-shot 5 s from now (the container's clock is the host's).
    at=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%SZ)
    out=$(in_ct jobu cron add e2e-noop --schedule "$at" --handler noop --params '{"from": "e2e"}' 2>&1) \
        || bad "jobu cron add failed: $out" || return
    say "jobu cron add e2e-noop --schedule $at --handler noop: $out"
    t0=$(now_ms)
    wait_until $((5 + EXEC_DEADLINE)) cron_has_execution e2e-noop \
        || { in_ct jobu jobs list --cron e2e-noop; bad "no execution of cron e2e-noop $((5 + EXEC_DEADLINE))s after it was added (tick at $at)"; return; }
    CRON_EXEC=$(cron_execution e2e-noop)
    say "execution $CRON_EXEC created $(secs_since "$t0")s after the cron was added"
    wait_until "$EXEC_DEADLINE" exec_finished "$CRON_EXEC"
    in_ct jobu jobs show "$CRON_EXEC"
    status=$(exec_field "$CRON_EXEC" status)
    [ "$status" = SUCCESS ] || bad "execution $CRON_EXEC of cron e2e-noop is $status, not SUCCESS" || return
    local sched started late
    sched=$(exec_field "$CRON_EXEC" scheduled_time); started=$(exec_field "$CRON_EXEC" started_at)
    late=$(python3 -c "from datetime import datetime as D; print(round((D.fromisoformat('$started') - D.fromisoformat('$sched')).total_seconds(), 2))")
    ok "cron e2e-noop (one-shot $at, handler noop) -> execution $CRON_EXEC SUCCESS, started ${late}s after its tick"
}

# A line of `journalctl -u UNIT` naming the execution id as a number of its own, and WORD.
journal_lines_with() {
    in_ct journalctl -u "$1" -o cat --no-pager | grep -E "(^|[^0-9])$2([^0-9]|$)" | grep -F -- "$3"
}
check_journal_dispatcher() {
    local lines
    lines=$(journal_lines_with jobu-dispatcher.service "$CRON_EXEC" e2e-noop)
    say "${lines:-(none)}"
    [ -n "$lines" ] || { in_ct journalctl -u jobu-dispatcher -n 15 -o cat --no-pager; bad "no line of journalctl -u jobu-dispatcher names both cron e2e-noop and execution $CRON_EXEC (last lines above)"; return; }
    ok "journalctl -u jobu-dispatcher: '$(head -n 1 <<<"$lines")'"
}
check_journal_worker() {
    # One line per job at INFO, written once its outcome is committed ("… started" is DEBUG).
    local lines ended
    lines=$(journal_lines_with jobu-worker.service "$CRON_EXEC" noop)
    ended=$(grep -E 'ended after .*: SUCCESS' <<<"$lines" | head -n 1)
    say "${lines:-(none)}"
    [ -n "$ended" ] || { in_ct journalctl -u jobu-worker -n 15 -o cat --no-pager; bad "no line of journalctl -u jobu-worker says execution $CRON_EXEC (noop) ended in SUCCESS (last lines above)"; return; }
    ok "journalctl -u jobu-worker: '$ended'"
}

check_journal_plain_lines() {
    local u=$1 lines stamped
    # Only what the daemon wrote (not systemd's own lines about the unit).
    lines=$(in_ct journalctl _SYSTEMD_UNIT="$u" -o cat --no-pager)
    say "$u: $(grep -c . <<<"$lines") lines, the last ones:"
    tail -n 5 <<<"$lines"
    [ -n "$lines" ] || bad "$u wrote nothing to the journal" || return
    # journald adds the time: a line of ours must not start with a date or a time of its own.
    stamped=$(grep -E '^\[?([0-9]{4}-[0-9]{2}-[0-9]{2}[ T]|[0-9]{2}:[0-9]{2}:[0-9]{2})' <<<"$lines" | head -n 3)
    [ -z "$stamped" ] || bad "$u's lines carry their own timestamp: '$(head -n 1 <<<"$stamped")'" || return
    ok "$u: $(grep -c . <<<"$lines") journal lines, none with a timestamp of its own"
}

check_reload() {
    local u=$1 pid1 pid2 c j
    c=$(cursor)
    pid1=$(prop "$u" MainPID)
    in_ct systemctl reload "$u" || { why "$u"; bad "systemctl reload $u failed"; return; }
    sleep 0.5
    pid2=$(prop "$u" MainPID)
    j=$(journal_since "$c" -u "$u" -o cat)
    say "$j"
    say "$u: MainPID $pid1 -> $pid2, $(state "$u")"
    [ "$pid1" = "$pid2" ] && unit_running "$u" \
        || bad "$u did not survive systemctl reload (MainPID $pid1 -> $pid2, $(state "$u"))" || return
    ok "systemctl reload $u (SIGHUP): reloaded in place (MainPID $pid1, still active)"
}

check_template_worker() {
    local u=jobu-worker@e2e.service id status lines
    # An extra pool serving queue e2e, set up as jobu-worker@.service's header says.
    in_ct sh -c "sed '/^queues:/,/^\$/ s/^  - default\$/  - e2e/' /etc/jobu/worker.yaml > /etc/jobu/worker-e2e.yaml \
        && chgrp jobu /etc/jobu/worker-e2e.yaml && chmod 0640 /etc/jobu/worker-e2e.yaml"
    in_ct grep -A2 '^queues:' /etc/jobu/worker-e2e.yaml
    CT_TIMEOUT=100 in_ct systemctl enable --now "$u" || { why "$u"; bad "systemctl enable --now $u failed"; return; }
    unit_running "$u" || { why "$u"; bad "$u is $(state "$u")"; return; }
    say "$u: $(state "$u"), ExecStart: $(prop "$u" ExecStart | sed -n 's/.*argv\[\]=\([^;]*\);.*/\1/p')"
    id=$(enqueue noop --queue e2e --params '{"pool": "e2e"}') || bad "jobu enqueue failed" || return
    wait_until "$EXEC_DEADLINE" exec_finished "$id"
    status=$(exec_field "$id" status)
    lines=$(journal_lines_with "$u" "$id" noop)
    say "${lines:-(no line of $u names execution $id)}"
    [ "$status" = SUCCESS ] || { why "$u"; bad "execution $id on queue e2e is ${status:-unknown}, not SUCCESS"; return; }
    [ -n "$lines" ] || bad "journalctl -u $u does not name execution $id" || return
    ok "jobu-worker@e2e (its own /etc/jobu/worker-e2e.yaml, queue e2e) ran execution $id: SUCCESS, in journalctl -u $u"
}

check_stop_drains() {
    local u=jobu-worker.service id t0 dt st j pid status
    id=$(enqueue sleep --params '{"seconds": 5}') || bad "jobu enqueue sleep failed" || return
    wait_until 10 exec_status_is "$id" RUNNING || bad "execution $id (sleep 5 s) never became RUNNING (it is $(exec_field "$id" status))" || return
    pid=$(prop "$u" MainPID)
    local c; c=$(cursor)
    t0=$(now_ms)
    CT_TIMEOUT=70 in_ct systemctl stop "$u"
    dt=$(secs_since "$t0")
    # Once stopped, systemd may forget the unit's properties: judge by is-active and the journal.
    st=$(in_ct systemctl is-active "$u")
    j=$(journal_since "$c" -u "$u" -o cat)
    say "$j"
    status=$(exec_field "$id" status)
    say "stop took ${dt}s; $u is $st; execution $id is $status"
    in_ct systemctl start "$u" >/dev/null 2>&1   # back for the next checks
    [ "$st" = inactive ] || bad "$u is $st after systemctl stop" || return
    ! grep -qE 'timed out|Killing|Failed with result|code=killed|status=9' <<<"$j" \
        || bad "the stop was not clean: $(grep -m1 -E 'timed out|Killing|Failed with result|code=killed' <<<"$j")" || return
    [ "$status" = SUCCESS ] || bad "execution $id, running at the stop, is $status after it, not SUCCESS (drained)" || return
    awk -v d="$dt" 'BEGIN { exit !(d >= 1.0) }' || bad "the stop took ${dt}s: the running job was not waited for" || return
    ok "systemctl stop jobu-worker during execution $id (sleep 5 s): drained (SUCCESS), exited cleanly after ${dt}s (PID $pid)"
}

check_watchdog_restart() {
    local u=jobu-worker.service dropin=/etc/systemd/system/jobu-worker.service.d ids pid0 n0 pid1 n1 t0 j
    # Every thread stuck: pool_size 1, and sleeps that ignore cancellation past their 1 s timeout.
    # The worker replaces a stuck thread up to max_stuck (= pool_size) times, so it takes
    # pool_size + 1 = 2 of them to wedge it.
    in_ct sh -c "cp -p /etc/jobu/worker.yaml /root/worker.yaml.e2e && sed -i 's/^pool_size: .*/pool_size: 1/' /etc/jobu/worker.yaml \
        && mkdir -p $dropin && printf '[Service]\nWatchdogSec=${E2E_WATCHDOG_SEC}s\n' > $dropin/e2e-watchdog.conf && systemctl daemon-reload"
    CT_TIMEOUT=100 in_ct systemctl restart "$u"
    restore() {
        in_ct sh -c "mv /root/worker.yaml.e2e /etc/jobu/worker.yaml; rm -rf $dropin; systemctl daemon-reload; systemctl reset-failed $u" 2>/dev/null
        CT_TIMEOUT=100 in_ct systemctl restart "$u" 2>/dev/null
    }
    unit_running "$u" || { why "$u"; restore; bad "jobu-worker with pool_size 1 is $(state "$u")"; return; }
    pid0=$(prop "$u" MainPID); n0=$(prop "$u" NRestarts)
    say "WatchdogUSec=$(prop "$u" WatchdogUSec) (drop-in), pool_size 1, MainPID $pid0, NRestarts $n0"
    local c; c=$(cursor)
    ids=$(in_ct jobu enqueue sleep --count 2 --params '{"seconds": 120, "ignore_cancel": true}' --timeout 1 | tr '\n' ' ') \
        || { restore; bad "jobu enqueue sleep failed"; return; }
    ids=${ids% }
    t0=$(now_ms)
    wait_until $((E2E_WATCHDOG_SEC + 25)) restarted_since "$u" "$n0"
    pid1=$(prop "$u" MainPID); n1=$(prop "$u" NRestarts)
    j=$(journal_since "$c" -u "$u" -o cat)
    grep -E 'Watchdog timeout|Killing process|Main process exited|Failed with result|Scheduled restart|Started' <<<"$j"
    local id; for id in $ids; do say "execution $id: $(exec_field "$id" status)"; done
    say "MainPID $pid0 -> $pid1, NRestarts $n0 -> $n1, $(state "$u") after $(secs_since "$t0")s"
    restore
    grep -q 'Watchdog timeout' <<<"$j" || { why "$u"; bad "no 'Watchdog timeout' for jobu-worker within $((E2E_WATCHDOG_SEC + 25))s of executions $ids (sleeps ignoring their 1 s timeout, pool_size 1)"; return; }
    grep -q "Failed with result 'watchdog'" <<<"$j" || bad "jobu-worker did not fail with result 'watchdog'" || return
    [ "$n1" -gt "$n0" ] && [ "$pid1" != "$pid0" ] || bad "jobu-worker was not restarted (NRestarts $n0 -> $n1, MainPID $pid0 -> $pid1)" || return
    ok "every thread stuck (executions $ids): WATCHDOG=1 stopped, systemd killed jobu-worker ('Watchdog timeout', WatchdogSec=${E2E_WATCHDOG_SEC}s by drop-in) and restarted it (MainPID $pid0 -> $pid1)"
}

check_bad_config() {
    local u=jobu-worker.service n0 c j rc st code
    in_ct sh -c 'cp -p /etc/jobu/worker.yaml /root/worker.yaml.e2e && printf "\npool_sise: 2\n" >> /etc/jobu/worker.yaml'
    in_ct systemctl reset-failed "$u" 2>/dev/null
    n0=$(prop "$u" NRestarts)
    c=$(cursor)
    CT_TIMEOUT=100 in_ct systemctl restart "$u" 2>/dev/null; rc=$?
    # RestartSec=5s: a restart loop would have started again by now.
    sleep 7
    st=$(state "$u"); code=$(prop "$u" ExecMainStatus)
    j=$(journal_since "$c" -u "$u" -o cat)
    say "$j"
    say "systemctl restart: exit $rc; $u: $st, Result=$(prop "$u" Result), ExecMainStatus=$code, NRestarts $n0 -> $(prop "$u" NRestarts)"
    in_ct sh -c "mv /root/worker.yaml.e2e /etc/jobu/worker.yaml && systemctl reset-failed $u"
    if [ "${STATUS[ready-jobu-worker]:-}" = pass ]; then CT_TIMEOUT=100 in_ct systemctl start "$u"; fi
    [ "$rc" -ne 0 ] || bad "systemctl restart jobu-worker succeeded with pool_sise in worker.yaml" || return
    [ "$code" = 78 ] || bad "jobu-worker exited $code, not 78 (EX_CONFIG), on a bad worker.yaml" || return
    grep -q 'worker.yaml' <<<"$j" && grep -q 'pool_sise' <<<"$j" \
        || bad "the journal does not name worker.yaml and the key pool_sise" || return
    ! grep -q 'Scheduled restart job' <<<"$j" && [ "${st%/*}" = failed ] \
        || bad "jobu-worker was restarted after exit 78 ($st)" || return
    ok "a bad /etc/jobu/worker.yaml: start fails with exit 78, '$(grep -m1 pool_sise <<<"$j")' in the journal, no restart (failed after 7 s)"
}

check_target_stops_all() {
    local u problems=() t0
    in_ct systemctl stop jobu.target
    t0=$(now_ms)
    # systemctl waits for the target's own stop job only; the services follow at once (PartOf=).
    for u in jobu-dispatcher.service jobu-worker.service jobu-worker@e2e.service; do
        wait_until 20 eval '[ "$(in_ct systemctl is-active "$u")" = inactive ]'
        say "$u: $(in_ct systemctl is-active "$u") $(secs_since "$t0")s after the stop"
        [ "$(in_ct systemctl is-active "$u")" = inactive ] || problems+=("$u is $(in_ct systemctl is-active "$u") 20 s after the stop")
    done
    CT_TIMEOUT=100 in_ct systemctl start jobu.target jobu-worker@e2e.service
    [ ${#problems[@]} -eq 0 ] || bad "after systemctl stop jobu.target: $(IFS=';'; echo "${problems[*]}")" || return
    ok "systemctl stop jobu.target stops jobu-dispatcher, jobu-worker and jobu-worker@e2e (PartOf=)"
}

check_reinstall() {
    local deb_name pid0 pid1 rc out crons
    deb_name=$(basename "$DEB")
    pid0=$(prop jobu-worker.service MainPID)
    # The upgrade path of the maintainer scripts (postinst configure with the old version).
    out=$(CT_TIMEOUT=200 in_ct sh -c "cd /srv/debs && apt install -y --reinstall ./$deb_name" 2>&1); rc=$?
    sed -n '/^Setting up jobu /,$p' <<<"$out" | sed 's/^/  | /'
    pid1=$(prop jobu-worker.service MainPID)
    crons=$(in_ct jobu cron list 2>&1)
    say "jobu-worker MainPID $pid0 -> $pid1; jobu cron list:"; say "$crons"
    [ "$rc" -eq 0 ] || bad "apt install --reinstall failed (exit $rc)" || return
    grep -q 'up to date' <<<"$out" || bad "the postinst did not check the schema on upgrade" || return
    if [ "${STATUS[cron-noop-success]:-}" = pass ]; then
        grep -q e2e-noop <<<"$crons" || bad "cron e2e-noop is gone after the upgrade" || return
        [ "$pid0" != "$pid1" ] && unit_running jobu-worker.service \
            || bad "jobu-worker was not restarted by the upgrade (MainPID $pid0 -> $pid1, $(state jobu-worker.service))" || return
        ok "apt install --reinstall (upgrade path): schema up to date, data kept, jobu-worker restarted (MainPID $pid0 -> $pid1)"
    else
        ok "apt install --reinstall (upgrade path): schema up to date, database kept"
    fi
}

check_postinst_other_database() {
    local deb_name rc out
    deb_name=$(basename "$DEB")
    # jobu's tables on a PostgreSQL server that does not answer (nothing listens on port 9). The
    # services are kept out of it (policy-rc.d): only the postinst is under test.
    in_ct sh -c 'cp -p /etc/jobu/database.yaml /root/database.yaml.e2e && cat >> /etc/jobu/database.yaml <<EOF
  elsewhere:
    url: postgresql://jobu@127.0.0.1:9/jobu
EOF
sed -i "s/^jobs_database: .*/jobs_database: elsewhere/" /etc/jobu/database.yaml
printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d'
    in_ct jobu check-config --json | py 'd["jobs_database"]["driver"], d["jobs_database"]["port"]' | sed 's/^/jobs database: /'
    out=$(CT_TIMEOUT=200 in_ct sh -c "cd /srv/debs && apt install -y --reinstall ./$deb_name" 2>&1); rc=$?
    sed -n '/^Setting up jobu /,$p' <<<"$out" | sed 's/^/  | /'
    in_ct sh -c 'mv /root/database.yaml.e2e /etc/jobu/database.yaml; rm -f /usr/sbin/policy-rc.d'
    [ "$rc" -eq 0 ] || bad "apt install failed (exit $rc) with an unreachable PostgreSQL jobs database" || return
    grep -q 'jobu migrate' <<<"$out" || bad "the postinst did not say how to run jobu migrate" || return
    ok "jobs database on an unreachable PostgreSQL: the install succeeds and says: '$(grep -m1 'jobu migrate' <<<"$out" | cut -c1-120)...'"
}

check_remove() {
    local rc problems=() f procs st
    # What an administrator adds, which remove keeps and purge must take away: an enabled extra
    # pool (with its worker-e2e.yaml) and a drop-in.
    in_ct sh -c 'test -f /etc/jobu/worker-e2e.yaml || cp /etc/jobu/worker.yaml /etc/jobu/worker-e2e.yaml
        systemctl enable jobu-worker@e2e.service 2>/dev/null
        mkdir -p /etc/systemd/system/jobu-worker.service.d
        printf "[Service]\nEnvironment=E2E_LOCAL=1\n" > /etc/systemd/system/jobu-worker.service.d/local.conf
        systemctl daemon-reload'
    CT_TIMEOUT=200 in_ct apt-get remove -y jobu >"$WORK/remove.log" 2>&1; rc=$?
    tail -n 5 "$WORK/remove.log"
    st=$(in_ct dpkg-query -W -f='${db:Status-Abbrev}' jobu 2>/dev/null)
    say "dpkg status after remove: '$st'"
    [ "$rc" -eq 0 ] || problems+=("apt-get remove failed (exit $rc)")
    [ "${st:0:2}" = rc ] || problems+=("dpkg status is '$st', not rc (removed, config kept)")
    for f in admin database dispatcher queue worker worker-e2e; do
        in_ct test -f "/etc/jobu/$f.yaml" || problems+=("/etc/jobu/$f.yaml is gone")
    done
    in_ct test -f /var/lib/jobu/jobu.db || problems+=("/var/lib/jobu/jobu.db is gone")
    [ "$(prop jobu-worker.service LoadState)" = not-found ] || problems+=("jobu-worker.service still loads")
    procs=$(in_ct python3 -c '
import os, pwd
uid = pwd.getpwnam("jobu").pw_uid
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if os.stat(f"/proc/{pid}").st_uid == uid:
            print(pid, open(f"/proc/{pid}/cmdline").read().replace("\0", " "))
    except OSError:
        pass')
    [ -z "$procs" ] || problems+=("processes of jobu still run: $procs")
    [ ${#problems[@]} -eq 0 ] || bad "$(IFS=';'; echo "${problems[*]}")" || return
    ok "apt remove jobu: services stopped and gone, no jobu process left; /etc/jobu (with worker-e2e.yaml) and /var/lib/jobu/jobu.db kept"
}

check_purge() {
    local rc problems=() left st
    CT_TIMEOUT=200 in_ct apt-get purge -y jobu >"$WORK/purge.log" 2>&1; rc=$?
    tail -n 3 "$WORK/purge.log"
    st=$(in_ct dpkg-query -W -f='${db:Status-Abbrev}' jobu 2>/dev/null)
    [ "$rc" -eq 0 ] || problems+=("apt-get purge failed (exit $rc)")
    [ -z "$st" ] || [ "${st:0:2}" = un ] || [ "${st:0:2}" = pn ] || problems+=("dpkg status is '$st' after purge")
    left=$(in_ct sh -c 'ls -d /etc/jobu /var/lib/jobu 2>/dev/null
        find /etc/systemd /lib/systemd /usr/lib/systemd /var/lib/systemd /run/systemd/system \
            /run/systemd/generator* -name "*jobu*" 2>/dev/null
        dpkg-statoverride --list | grep jobu
        systemctl list-units --all --no-legend "jobu*"')
    say "user jobu after purge (kept, as Debian does): $(in_ct getent passwd jobu)"
    [ -z "$left" ] || problems+=("left behind: $(tr '\n' ' ' <<<"$left")")
    say "${left:-nothing left}"
    [ ${#problems[@]} -eq 0 ] || bad "$(IFS=';'; echo "${problems[*]}")" || return
    ok "apt purge jobu: no unit, link, drop-in, config, state or statoverride left (the jobu user stays)"
}

# ------------------------------------------------------------------------------- run --
log "jobu e2e in a $SUITE systemd container ($MACHINE); results in $RESULTS"
for c in "${CHECKS[@]}"; do
    IFS='|' read -r name needs fn <<<"$c"
    # shellcheck disable=SC2086  # fn holds a function name and its arguments
    run_check "$name" "$needs" $fn
done
exit 0
