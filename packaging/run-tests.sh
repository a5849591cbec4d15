#!/usr/bin/env bash
# packaging/run-tests.sh VENV... [-- PYTEST_ARGS...] — run the whole pytest suite once per venv.
#
# Runs every venv even when an earlier one failed, says what each exit code means, and exits 1
# if any run did not pass. Exit 5 ("no tests collected") is a failure here: a suite that ran
# nothing has not passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

venvs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do venvs+=("$1"); shift; done
[ $# -gt 0 ] && shift
pytest_args=("$@")

describe() {
    case $(basename "$1") in
        .venv) echo "newest PyPI releases" ;;
        .venv-debian) echo "Debian 12 packages" ;;
        *) echo "$1" ;;
    esac
}

status=0
results=()
for venv in "${venvs[@]}"; do
    echo
    echo "######## pytest in $venv ($(describe "$venv")), CI=${CI:-} ########"
    # The package test builds the .deb and boots a systemd container: once per run is enough,
    # and it does not depend on which Python packages the host's venv holds.
    extra=()
    [ "$(basename "$venv")" = ".venv-debian" ] && extra=(--ignore=tests/package)
    "$venv/bin/python" -m pytest "${extra[@]}" "${pytest_args[@]}"
    rc=$?
    case $rc in
        0) meaning="passed" ;;
        1) meaning="some tests failed" ;;
        2) meaning="interrupted (collection errors, or stopped)" ;;
        3) meaning="internal error" ;;
        4) meaning="usage error" ;;
        5) meaning="NO TESTS WERE COLLECTED - counted as a failure" ;;
        *) meaning="unexpected exit code" ;;
    esac
    results+=("pytest in $venv ($(describe "$venv")): exit $rc, $meaning")
    [ "$rc" -eq 0 ] || status=1
done

echo
printf '%s\n' "${results[@]}"
exit $status
