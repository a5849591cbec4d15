#!/usr/bin/env bash
# packaging/debian-env.sh RELEASE [-- PYTEST_ARGS...] — the test suite on a Debian release's own
# Python and packages, whatever the host runs.
#
# `make test` runs it for Debian 13 (trixie): Python 3.13, Flask 3.1, croniter 2.0, psycopg 3.2,
# marshmallow 3.26, gunicorn 23, python3-kafka 2.0.2, ... (Debian 12's are tested on the host, in
# .venv-debian). The suite runs in a throwaway copy of a root filesystem of RELEASE that holds
# those packages from RELEASE's archive (packaging/e2e/container.sh, kind "test", cached), not
# booted, sharing the host's network: the test database servers on 127.0.0.1 are the host's
# (make servers). Inside, jobu is an editable install, without dependencies, of a copy of this
# tree, in a venv that sees the system's packages (--system-site-packages), as .venv-debian does;
# the run fails if any dependency is not RELEASE's own. pytest's exit status is this script's.
# Needs root.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
release=${1:?usage: debian-env.sh RELEASE [-- PYTEST_ARGS...]}
shift
[ "${1:-}" = -- ] && shift

# What runs inside: copy the tree, make the venv, check it, run pytest with the arguments given.
inner=$(cat <<'EOF'
set -u
mkdir /src && tar -C /repo --exclude=./.git --exclude='./.venv*' --exclude=./dist \
    --exclude=./build --exclude=./var --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude=.pytest_cache --exclude=.hypothesis -cf - . | tar -C /src -xf - || exit 3
python3 -m venv --system-site-packages /opt/venv || exit 3
/opt/venv/bin/python -m pip install -q --no-deps --no-build-isolation -e /src \
    >/tmp/pip.log 2>&1 || { cat /tmp/pip.log; exit 3; }
cd /src
/opt/venv/bin/python - <<'PY' || exit 3
import importlib.metadata as md, importlib.util, platform, sys
wanted = {"Flask": "flask", "gunicorn": "gunicorn", "croniter": "croniter",
          "marshmallow": "marshmallow", "PyYAML": "yaml", "psycopg": "psycopg",
          "psycopg-pool": "psycopg_pool", "PyMySQL": "pymysql", "kafka-python": "kafka",
          "sdnotify": "sdnotify", "pytest": "pytest", "hypothesis": "hypothesis",
          "apispec": "apispec", "prometheus-client": "prometheus_client"}
bad = [m for m in wanted.values()
       if not (importlib.util.find_spec(m).origin or "").startswith("/usr/lib/python3/dist-packages/")]
release = dict(l.split("=", 1) for l in open("/etc/os-release").read().splitlines() if "=" in l)
name = release["PRETTY_NAME"].strip('"')
print(f"{name}, Python {platform.python_version()}: "
      + ", ".join(f"{d} {md.version(d)}" for d in wanted))
sys.exit(f"not Debian's packages: {bad}" if bad else 0)
PY
PYTHONDONTWRITEBYTECODE=1 exec /opt/venv/bin/python -m pytest -p no:cacheprovider "$@"
EOF
)

# The test servers' settings and CI reach the suite as on the host, and so does pip's
# configuration (the suite's Kafka broker is a wheel that tests/support/kafka.py downloads): the
# PIP_* variables, pip.conf, and the files and directories they name.
setenv="CI HOME"
for v in $(compgen -e | grep -E '^(JOBU_TEST_|PIP_)'); do setenv+=" $v"; done
binds=(--bind-ro "$PWD:/repo")
[ -f /etc/pip.conf ] && binds+=(--bind-ro /etc/pip.conf:/etc/pip.conf)
[ -f "$HOME/.config/pip/pip.conf" ] && binds+=(--bind-ro "$HOME/.config/pip/pip.conf:/root/.config/pip/pip.conf")
for path in ${PIP_CERT:-} ${PIP_CLIENT_CERT:-} ${PIP_FIND_LINKS:-} $(sed -nE \
        's/^[[:space:]]*(cert|client-cert|find-links)[[:space:]]*=[[:space:]]*(\/[^[:space:]]*).*/\2/p' \
        /etc/pip.conf "$HOME/.config/pip/pip.conf" 2>/dev/null); do
    case $path in /*) [ -e "$path" ] && binds+=(--bind-ro "$path:$path") ;; esac
done
RUN_SETENV=$setenv HOME=/root exec bash packaging/e2e/container.sh run "$release" test \
    --timeout 3600 "${binds[@]}" -- bash -c "$inner" debian-env "$@"
