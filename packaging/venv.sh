#!/usr/bin/env bash
# packaging/venv.sh pypi|debian DIR — create DIR as a test virtualenv, or refresh it.
#
#   pypi    jobu and its extras from the newest PyPI releases (python3 from PATH, or $PYTHON).
#   debian  Debian 12's own packages (apt), seen through --system-site-packages by
#           /usr/bin/python3; only jobu itself is installed into the venv, without dependencies,
#           so the tests run against exactly what the .deb will depend on.
#
# Either way jobu is an editable install of this tree. The Makefile reruns this only when
# setup.cfg, pyproject.toml or these scripts are newer than DIR/.jobu-installed.
set -euo pipefail

kind=${1:?usage: venv.sh pypi|debian DIR}
dir=${2:?usage: venv.sh pypi|debian DIR}
cd "$(dirname "$0")/.."
top=$PWD
started=$SECONDS
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off

# The Debian packages jobu's .deb depends on, the test tools, and what builds the editable install.
debian_packages=(
    python3-flask python3-croniter python3-sdnotify python3-psycopg python3-psycopg-pool
    python3-pymysql python3-kafka python3-yaml python3-marshmallow gunicorn python3-apispec
    python3-prometheus-client
    python3-pytest python3-hypothesis python3-venv python3-pip python3-setuptools python3-wheel
)

# pip_install DIR ARGS...: pip's and the build backend's chatter goes to DIR/pip-install.log,
# shown only if the install fails.
pip_install() {
    local venv=$1 log=$1/pip-install.log
    shift
    if ! "$venv/bin/python" -m pip install "$@" >"$log" 2>&1; then
        cat "$log"
        echo "venv $venv: pip install failed (output above, also in $log)" >&2
        exit 1
    fi
    echo "  pip install ok (its output: $log)"
}

usable() {  # usable DIR: the venv's python runs and has pip
    [ -x "$1/bin/python" ] && "$1/bin/python" -c 'import pip' >/dev/null 2>&1
}

case $kind in
pypi)
    if usable "$dir"; then
        echo "venv $dir: exists; refreshing jobu's install (newest releases)"
    else
        rm -rf "$dir"
        echo "venv $dir: creating with ${PYTHON:-python3} ($(command -v "${PYTHON:-python3}"))"
        "${PYTHON:-python3}" -m venv --upgrade-deps "$dir"
    fi
    pip_install "$dir" --upgrade --upgrade-strategy eager -e '.[admin,queue,test,lint,browser]'
    ;;
debian)
    bash packaging/apt-ensure.sh "${debian_packages[@]}"
    if usable "$dir" && grep -qx 'home = /usr/bin' "$dir/pyvenv.cfg" \
            && grep -qx 'include-system-site-packages = true' "$dir/pyvenv.cfg"; then
        echo "venv $dir: exists; refreshing jobu's editable install"
    else
        rm -rf "$dir"
        echo "venv $dir: creating with /usr/bin/python3 --system-site-packages"
        /usr/bin/python3 -m venv --system-site-packages "$dir"
    fi
    pip_install "$dir" --no-deps --no-build-isolation -e .
    ;;
*)
    echo "venv.sh: unknown kind '$kind' (pypi or debian)" >&2
    exit 2
    ;;
esac

# Say what the venv holds, and check that it is what this run means to test: jobu from this
# tree, and (debian) every dependency from Debian's dist-packages, not from PyPI.
(cd / && "$top/$dir/bin/python" - "$kind" "$top" <<'EOF'
import importlib, importlib.metadata as md, platform, sys

kind, top = sys.argv[1], sys.argv[2]
wanted = {  # distribution -> module
    "Flask": "flask", "gunicorn": "gunicorn", "croniter": "croniter",
    "marshmallow": "marshmallow", "PyYAML": "yaml", "psycopg": "psycopg",
    "psycopg-pool": "psycopg_pool", "PyMySQL": "pymysql", "kafka-python": "kafka",
    "sdnotify": "sdnotify", "pytest": "pytest", "hypothesis": "hypothesis",
    "apispec": "apispec", "prometheus-client": "prometheus_client",
}
problems, versions = [], []
for dist, module in wanted.items():
    try:
        origin = importlib.util.find_spec(module).origin or ""
    except (ImportError, AttributeError):
        problems.append(f"{module} is not importable")
        continue
    versions.append(f"{dist} {md.version(dist)}")
    if kind == "debian" and not origin.startswith("/usr/lib/python3/dist-packages/"):
        problems.append(f"{module} comes from {origin}, not from Debian's python3 packages")
import jobu
if not jobu.__file__.startswith(top + "/"):
    problems.append(f"jobu comes from {jobu.__file__}, not from {top}")
print(f"  Python {platform.python_version()}: " + ", ".join(versions))
if problems:
    sys.exit("venv check failed:\n  " + "\n  ".join(problems))
EOF
)
touch "$dir/.jobu-installed"
echo "venv $dir: ready ($((SECONDS - started))s)"
