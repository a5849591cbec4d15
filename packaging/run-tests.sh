#!/usr/bin/env bash
# packaging/run-tests.sh [--lint] [--package] [--debian13] [--browser] VENV... [-- PYTEST_ARGS...]
# `make test` runs this: every stage, one after the other, each timed.
#
#   lint              (--lint) `make lint`: ruff and the import rules
#   pytest-<env>      the whole suite but tests/package and tests/browser, once per VENV
#                     (.venv: the newest PyPI releases; .venv-debian: Debian 12's packages, on
#                     Debian 12's python3)
#   pytest-debian13   (--debian13) the same suite on Debian 13's python3 and packages, in a
#                     Debian 13 root filesystem (packaging/debian-env.sh)
#   browser           (--browser) tests/browser, with the first VENV: headless Chromium drives the
#                     admin under gunicorn with a worker running; Debian's chromium and
#                     chromium-driver are installed first (packaging/apt-ensure.sh), for it only
#   package           (--package) tests/package: the .deb built in a clean room, installed and
#                     driven in booted Debian 12 and Debian 13 systemd containers
#
# Every stage runs even when an earlier one failed. Each prints "make test: stage NAME: ..." with
# its outcome and time when it ends, and all of these lines again at the very end, so a stage
# that failed names itself in the last lines; so does a run stopped by a signal (CI's timeout).
# pytest's exit 5 ("no tests collected") is a failure, unless PYTEST_ARGS chose the tests.
# Exit status: 0 when every stage passed, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

lint=0 package=0 debian13=0 browser=0 venvs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
        --lint) lint=1 ;;
        --package) package=1 ;;
        --debian13) debian13=1 ;;
        --browser) browser=1 ;;
        *) venvs+=("$1") ;;
    esac
    shift
done
[ $# -gt 0 ] && shift
pytest_args=("$@")
# The package suite boots containers: bounded, so that a hang there leaves time for the report.
package_timeout=${JOBU_PACKAGE_TIMEOUT:-2400}
# The browser stage takes a minute or two (installing chromium the first time included).
browser_timeout=${JOBU_BROWSER_TIMEOUT:-900}

describe() {
    case $(basename "$1") in
        .venv) echo "pypi|newest PyPI releases" ;;
        .venv-debian) echo "debian12|Debian 12 packages" ;;
        *) echo "$(basename "$1")|$1" ;;
    esac
}

status=0
results=()
current=
stage_start=0
on_signal() {
    local line="make test: stage $current: STOPPED by SIG$1 after $((SECONDS - stage_start))s"
    echo "$line"
    results+=("$line")
    echo
    printf '%s\n' "${results[@]}"
    exit 1
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

meaning() {
    case $1 in
        0) echo "passed" ;;
        1) echo "FAILED (some tests failed)" ;;
        2) echo "FAILED (interrupted: collection errors, or stopped)" ;;
        3) echo "FAILED (pytest internal error)" ;;
        4) echo "FAILED (pytest usage error)" ;;
        5) if [ ${#pytest_args[@]} -gt 0 ]; then echo "no test selected by PYTEST_ARGS"
           else echo "FAILED (NO TESTS WERE COLLECTED)"; fi ;;
        124|137) echo "FAILED (stopped by its timeout)" ;;
        *) echo "FAILED (exit $1)" ;;
    esac
}

# stage NAME DESCRIPTION CMD...: run CMD, print and remember its outcome and time.
stage() {
    local name=$1 what=$2 rc outcome line
    shift 2
    current=$name
    stage_start=$SECONDS
    echo
    echo "######## make test: stage $name ($what), CI=${CI:-} ########"
    # In the background + wait: a signal reaches our trap at once.
    "$@" &
    wait $!
    rc=$?
    outcome=$(meaning "$rc")
    case $outcome in passed|"no test selected"*) ;; *) status=1 ;; esac
    line="make test: stage $name: $outcome in $((SECONDS - stage_start))s"
    echo "$line"
    results+=("$line")
}

[ "$lint" = 1 ] && stage lint "ruff, import rules" make --no-print-directory lint

for venv in "${venvs[@]}"; do
    IFS='|' read -r name what <<<"$(describe "$venv")"
    stage "pytest-$name" "$what, $venv" \
        "$venv/bin/python" -m pytest --ignore=tests/package --ignore=tests/browser \
        "${pytest_args[@]}"
done

if [ "$debian13" = 1 ]; then
    stage pytest-debian13 "Debian 13 packages, in a Debian 13 root filesystem" \
        bash packaging/debian-env.sh trixie -- --ignore=tests/package --ignore=tests/browser \
        "${pytest_args[@]}"
fi

# browser_tests VENV: the browser first (should apt fail, the tests say so: they fail under
# CI=true and are skipped elsewhere), then tests/browser, bounded like the package suite.
browser_tests() {
    bash packaging/apt-ensure.sh chromium chromium-driver \
        || echo "browser: installing chromium and chromium-driver failed (apt's output above)"
    timeout --kill-after=30 "$browser_timeout" \
        "$1/bin/python" -m pytest tests/browser "${pytest_args[@]}"
}

if [ "$browser" = 1 ]; then
    stage browser "the admin in headless Chromium, ${venvs[0]}" browser_tests "${venvs[0]}"
fi

if [ "$package" = 1 ]; then
    # Any venv's pytest will do: the package tests need only the test extra (the Kafka test
    # broker and its client, PyYAML), not jobu's own dependencies.
    stage package "the .deb on Debian 12 and 13, booted systemd" \
        timeout --kill-after=60 "$package_timeout" \
        "${venvs[0]}/bin/python" -m pytest tests/package "${pytest_args[@]}"
fi

echo
printf '%s\n' "${results[@]}"
exit $status
