#!/usr/bin/env bash
# packaging/test-env.sh — make the test database servers ready, as `make test` needs them.
#
# Checks that PostgreSQL and MariaDB answer on 127.0.0.1 and starts them if not (waiting with a
# deadline), then creates what the tests connect as, if missing:
#   PostgreSQL: role jobu_test (LOGIN, CREATEDB, password jobu_test), database jobu_test owned by
#               it, and max_prepared_transactions > 0 (two-phase commit tests; needs a restart).
#   MariaDB:    users jobu_test@'%' and jobu_test@localhost (password jobu_test) with ALL
#               PRIVILEGES ON *.* (test machines only: tests create a database each and use XA),
#               and database jobu_test.
# Safe to run any number of times; prints one line per thing it found or created.
#
# Environment: JOBU_SERVER_START_TIMEOUT (seconds to wait for a server to come up, default 60).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
deadline_s=${JOBU_SERVER_START_TIMEOUT:-60}
host=127.0.0.1
pg_port=5432
my_port=3306
user=jobu_test
password=jobu_test
database=jobu_test
prepared_transactions=64

say() { echo "test-env: $*"; }
die() { echo "test-env: ERROR: $*" >&2; exit 1; }

bash "$here/apt-ensure.sh" postgresql-client mariadb-client

# The newest installed PostgreSQL (the directory names are version numbers).
# shellcheck disable=SC2012
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }
pg_start_cmd() { echo "pg_ctlcluster --skip-systemctl-redirect $(pg_version) main start"; }
pg_up() { pg_isready -q -h "$host" -p "$pg_port" -t 2; }
my_start_cmd="start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
my_up() {
    mariadb-admin --host="$host" --port="$my_port" --user=root --connect-timeout=2 ping \
        >/dev/null 2>&1
}

now_ms() { local us=${EPOCHREALTIME/./}; echo $((us / 1000)); }

# wait_up NAME CHECK: poll CHECK until it succeeds or the deadline passes.
wait_up() {
    local name=$1 check=$2 start
    start=$(now_ms)
    until $check; do
        [ $(($(now_ms) - start)) -lt $((deadline_s * 1000)) ] || return 1
        sleep 0.2
    done
    say "$name: up after $(($(now_ms) - start)) ms"
}

# ensure_up NAME CHECK START_COMMAND LOG
ensure_up() {
    local name=$1 check=$2 start=$3 log=$4 out
    if $check; then
        say "$name: answering"
        return
    fi
    say "$name: not answering; starting it: $start"
    # To a file, not $(...): a daemon that keeps the pipe open would make us wait for it forever.
    out=$(mktemp)
    if ! $start >"$out" 2>&1 </dev/null; then
        cat "$out" >&2
        rm -f "$out"
        die "$name did not start. Start it by hand with: $start   (log: $log)"
    fi
    rm -f "$out"
    wait_up "$name" "$check" || die "$name is still not answering after ${deadline_s}s." \
        "Start it with: $start   (then see $log)"
}

# --- PostgreSQL ------------------------------------------------------------------------------

[ -n "$(pg_version)" ] && command -v pg_ctlcluster >/dev/null \
    || pg_up || die "PostgreSQL is not installed here (no /etc/postgresql) and nothing answers on" \
        "$host:$pg_port. Install it: apt-get install postgresql"
ensure_up "PostgreSQL $host:$pg_port" pg_up "$(pg_start_cmd)" \
    "/var/log/postgresql/postgresql-$(pg_version)-main.log"

pg() { psql -h "$host" -p "$pg_port" -U postgres -d postgres -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

if [ "$(pg -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" = 1 ]; then
    say "PostgreSQL role $user: found"
else
    pg -c "CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password'" \
        || [ "$(pg -c "SELECT 1 FROM pg_roles WHERE rolname = '$user'")" = 1 ]
    say "PostgreSQL role $user: created"
fi
# Keep the attributes right even if someone changed them (cheap, and idempotent).
pg -c "ALTER ROLE $user LOGIN CREATEDB PASSWORD '$password'"

if [ "$(pg -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" = 1 ]; then
    say "PostgreSQL database $database: found"
else
    pg -c "CREATE DATABASE $database OWNER $user" \
        || [ "$(pg -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" = 1 ]
    say "PostgreSQL database $database: created"
fi

current=$(pg -c "SHOW max_prepared_transactions")
if [ "$current" -gt 0 ]; then
    say "PostgreSQL max_prepared_transactions: $current"
else
    pg -c "ALTER SYSTEM SET max_prepared_transactions = $prepared_transactions"
    restart="pg_ctlcluster --skip-systemctl-redirect $(pg_version) main restart"
    say "PostgreSQL max_prepared_transactions: was 0, set to $prepared_transactions; $restart"
    $restart || die "PostgreSQL did not restart: $restart"
    wait_up "PostgreSQL $host:$pg_port" pg_up \
        || die "PostgreSQL is not answering after its restart. Start it with: $(pg_start_cmd)"
fi

PGPASSWORD=$password psql -h "$host" -p "$pg_port" -U "$user" -d "$database" -X -q -A -t \
    -v ON_ERROR_STOP=1 -c 'SELECT 1' >/dev/null \
    || die "cannot log in to PostgreSQL as $user (check pg_hba.conf allows password or trust on $host)"
say "PostgreSQL login as $user to $database: ok"

# --- MariaDB ---------------------------------------------------------------------------------

[ -x /usr/sbin/mariadbd ] || my_up || die "MariaDB is not installed here (no /usr/sbin/mariadbd)" \
    "and nothing answers on $host:$my_port. Install it: apt-get install mariadb-server"
# mariadbd wants its socket directory, which lives on a tmpfs that a reboot empties.
if [ ! -d /run/mysqld ] && id mysql >/dev/null 2>&1; then
    install -d -o mysql -g mysql /run/mysqld
fi
ensure_up "MariaDB $host:$my_port" my_up "$my_start_cmd" /var/log/mysql/error.log

my() { mariadb --host="$host" --port="$my_port" --user=root --batch --skip-column-names "$@"; }

for user_host in % localhost; do
    if [ "$(my -e "SELECT COUNT(*) FROM mysql.user WHERE User = '$user' AND Host = '$user_host'")" = 1 ]; then
        say "MariaDB user $user@'$user_host': found"
    else
        my -e "CREATE USER IF NOT EXISTS '$user'@'$user_host' IDENTIFIED BY '$password'"
        say "MariaDB user $user@'$user_host': created"
    fi
    my -e "ALTER USER '$user'@'$user_host' IDENTIFIED BY '$password';
           GRANT ALL PRIVILEGES ON *.* TO '$user'@'$user_host'"
done

if [ -n "$(my -e "SHOW DATABASES LIKE '$database'")" ]; then
    say "MariaDB database $database: found"
else
    my -e "CREATE DATABASE IF NOT EXISTS \`$database\`"
    say "MariaDB database $database: created"
fi

MYSQL_PWD=$password mariadb --host="$host" --port="$my_port" --user="$user" --batch \
    --skip-column-names -e 'SELECT 1' "$database" >/dev/null \
    || die "cannot log in to MariaDB as $user on $host:$my_port"
say "MariaDB login as $user to $database: ok"
