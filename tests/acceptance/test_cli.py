"""The `jobu` command, end to end on SQLite, through the real executable.

Every test gets a configuration directory of its own (a copy of the shipped etc/jobu) and a
state directory in tmp_path, so the SQLite jobs database is a file of the test. The command runs
as a subprocess: the `jobu` entry point of the venv running pytest, and `python -m jobu` once.
Outputs, exit codes and the rows left in the database are all checked; the rows are read (and,
to set a scene quickly, written) through jobu.store, opened on the configuration the command
reads.

Spawning `jobu` costs a few tenths of a second, so commands that are independent of each other
run in parallel (`Jobu.run_all`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from jobu import __version__
from jobu.config import load_config
from jobu.model import (
    CatchUp,
    CronJob,
    CronSpec,
    DstRepeat,
    ExecutionFilter,
    Isolation,
    NewExecution,
    ParamSource,
    Status,
    WorkerInfo,
)
from jobu.schedule import parse_schedule
from jobu.store import Store, open_store
from jobu.store.migrate import load_migrations

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "etc" / "jobu"
VENV_BIN = Path(sys.executable).parent
MASK = "********"
BERLIN = ZoneInfo("Europe/Berlin")
#: One line of `jobu cron next`: local time, zone abbreviation, UTC offset.
NEXT_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ([A-Z]{3,5}|[+-]\d{2,4}) "
                       r"\(UTC([+-])(\d{2}):(\d{2})\)$")
UNREACHABLE_POSTGRES = "postgresql://x:y@127.0.0.1:1/x"


@pytest.fixture(scope="module")
def jobu_executable() -> Path:
    """The `jobu` console script of the venv running the tests (not whatever is on PATH)."""
    found = shutil.which("jobu", path=str(VENV_BIN))
    assert found, f"no `jobu` executable in {VENV_BIN}: install jobu into this venv"
    assert Path(found).parent == VENV_BIN
    return Path(found)


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.code}\n--- stdout\n{self.out}"
                f"--- stderr\n{self.err}")

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class Jobu:
    """One test's jobu: its config dir, state dir, environment, and the command to run it."""

    def __init__(self, executable: Path, tmp_path: Path) -> None:
        self.executable = executable
        self.config_dir = tmp_path / "etc-jobu"
        self.config_dir.mkdir()
        for shipped in SHIPPED_CONFIG.glob("*.yaml"):
            shutil.copy(shipped, self.config_dir / shipped.name)
        self.state_dir = tmp_path / "var-lib-jobu"
        self.state_dir.mkdir()
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("JOBU_")}
        self.env.update(JOBU_CONFIG_DIR=str(self.config_dir), JOBU_STATE_DIR=str(self.state_dir))
        self._store: Store | None = None

    # --- running the command ---------------------------------------------------------------

    def start(self, args: Sequence[str], env: dict[str, str] | None = None,
              command: Sequence[str] | None = None) -> tuple[tuple[str, ...], subprocess.Popen]:
        argv = (*(command or [str(self.executable)]), *args)
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, text=True,
                                   env={**self.env, **(env or {})}, cwd=self.state_dir)
        return argv, process

    @staticmethod
    def finish(started: tuple[tuple[str, ...], subprocess.Popen]) -> Result:
        argv, process = started
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"$ {' '.join(argv)} did not finish in 60 s\n{out}\n{err}")
        return Result(argv, process.returncode, out, err)

    def __call__(self, *args: str, env: dict[str, str] | None = None,
                 command: Sequence[str] | None = None) -> Result:
        return self.finish(self.start(args, env, command))

    def run_all(self, *argvs: Sequence[str], env: dict[str, str] | None = None) -> list[Result]:
        """Run independent commands at the same time; their results in order."""
        started = [self.start(argv, env) for argv in argvs]
        return [self.finish(one) for one in started]

    def ok(self, *args: str) -> str:
        """Run a command that must succeed quietly; its stdout."""
        result = self(*args)
        assert result.code == 0, str(result)
        assert result.err == "", str(result)
        return result.out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    # --- the configuration and the database ------------------------------------------------

    def append(self, file: str, text: str) -> None:
        with (self.config_dir / file).open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)

    def replace(self, file: str, old: str, new: str) -> None:
        path = self.config_dir / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    @property
    def store(self) -> Store:
        """The jobs database, opened by the configuration the command reads."""
        if self._store is None:
            config = load_config(self.config_dir, environ=self.env)
            self._store = open_store(config.jobs_database)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


@pytest.fixture
def jobu(jobu_executable, tmp_path) -> Iterator[Jobu]:
    """A jobu whose jobs database does not exist yet."""
    cli = Jobu(jobu_executable, tmp_path)
    yield cli
    cli.close()


@pytest.fixture
def ready(jobu) -> Jobu:
    """A jobu whose jobs database is migrated (done in-process: it is not what is tested)."""
    jobu.store.migrate()
    return jobu


def assert_refused(result: Result, code: int, *, says: str = "") -> None:
    """An error as the CLI promises it: the exit code, one `jobu: ...` line, no traceback."""
    assert result.code == code, str(result)
    assert "Traceback" not in result.err, str(result)
    lines = result.err.splitlines()
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("jobu: "), str(result)
    assert says in lines[0], str(result)
    assert result.out == "", str(result)


def add_cron(store: Store, name: str = "nightly", **fields: Any) -> CronJob:
    values = {"schedule": "0 3 * * *", "handler_name": "report", **fields}
    return store.cron_create(CronSpec(name=name, **values))


def claim(store: Store, execution_id: int, worker: str = "w1"):
    """Claim exactly `execution_id` (it sits alone in its queue)."""
    queue = store.execution_get(execution_id).queue
    [execution] = store.execution_claim(worker, [queue], 1, 300)
    assert execution.id == execution_id
    return execution


def ids_of(listing: dict[str, Any]) -> list[int]:
    return [item["id"] for item in listing["items"]]


# --- help, version, python -m jobu ---------------------------------------------------------------


SPEC_OPTIONS = ["--schedule", "--handler", "--params", "--description", "--timezone",
                "--allow-overlap", "--no-allow-overlap", "--max-retry", "--retry-backoff",
                "--timeout", "--priority", "--queue", "--catch-up", "--misfire-grace",
                "--catch-up-max-runs", "--dst-repeat", "--jitter", "--isolation", "--force"]

HELP = {
    (): ["--version", "--config-dir", "init", "migrate", "check-config", "cron", "jobs", "enqueue",
         "exit codes", "65", "66", "69", "70", "78", "JOBU_CONFIG_DIR", "JOBU_DATABASE_URL",
         "JOBU_STATE_DIR"],
    ("migrate",): ["--dry-run"],
    ("check-config",): ["--json"],
    ("cron",): ["add", "list", "show", "edit", "enable", "disable", "remove", "run-now", "next"],
    ("init",): ["DIR", "--template", "--force"],
    ("cron", "add"): ["name", *SPEC_OPTIONS, "--disabled"],
    ("cron", "list"): ["--enabled", "--json"],
    ("cron", "show"): ["name", "--json"],
    ("cron", "edit"): ["name", "--rename", *SPEC_OPTIONS],
    ("cron", "enable"): ["name"],
    ("cron", "disable"): ["name"],
    ("cron", "remove"): ["name"],
    ("cron", "run-now"): ["name", "--json"],
    ("cron", "next"): ["name", "-n", "--count", "--json"],
    ("jobs",): ["list", "show", "retry", "cancel"],
    ("jobs", "list"): ["--status", "--cron", "--handler", "--source", "--since", "--until",
                       "--limit", "--before-id", "--json", "PENDING", "CANCELLED"],
    ("jobs", "show"): ["id", "--json", "--full"],
    ("jobs", "retry"): ["id"],
    ("jobs", "cancel"): ["id"],
    ("enqueue",): ["handler", "--params", "--count", "--priority", "--timeout", "--max-retry",
                   "--queue", "--dedupe-key", "--isolation", "--json"],
}


def test_help_of_every_command_exits_0_and_names_its_options(jobu):
    commands = list(HELP)
    results = jobu.run_all(*[[*command, "--help"] for command in commands])

    for command, result in zip(commands, results, strict=True):
        assert result.code == 0, str(result)
        assert result.err == "", str(result)
        assert result.out.startswith(f"usage: jobu {' '.join(command)}".rstrip()), str(result)
        for word in HELP[command]:
            assert re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", result.out), (
                f"`jobu {' '.join(command)} --help` does not mention {word}\n{result}")
    # --help reads no configuration and opens no database.
    assert list(jobu.state_dir.iterdir()) == []


def test_version_from_the_executable_and_from_python_m_jobu(jobu):
    by_script, by_module, no_command, no_cron_command = [
        jobu.finish(jobu.start(["--version"])),
        jobu.finish(jobu.start(["--version"], command=[sys.executable, "-m", "jobu"])),
        jobu.finish(jobu.start([])),
        jobu.finish(jobu.start(["cron"])),
    ]
    for result in (by_script, by_module):
        assert result.code == 0, str(result)
        assert result.out == f"jobu {__version__}\n", str(result)
    # A command line without a command is a usage error (2), with the usage on stderr.
    for result in (no_command, no_cron_command):
        assert result.code == 2, str(result)
        assert "usage: jobu" in result.err and "required" in result.err, str(result)
        assert "Traceback" not in result.err


# --- migrate -------------------------------------------------------------------------------------


def test_commands_before_migrate_exit_70_and_say_to_run_jobu_migrate(jobu):
    results = jobu.run_all(["cron", "list"], ["jobs", "list"], ["enqueue", "report"],
                           ["cron", "add", "x", "--schedule", "@daily", "--handler", "report"])
    for result in results:
        assert_refused(result, 70, says="run `jobu migrate`")


def test_migrate_dry_run_lists_then_migrate_applies_once(jobu):
    database = jobu.state_dir / "jobu.db"

    every = [m.label for m in load_migrations("sqlite")]
    dry = jobu("migrate", "--dry-run")
    assert dry.code == 0, str(dry)
    assert re.fullmatch("".join(rf"would apply {label} \(\d+ statements\)\n" for label in every),
                        dry.out), str(dry)
    assert [m.label for m in jobu.store.pending_migrations()] == every

    # `python -m jobu` is the same command.
    applied = jobu("migrate", command=[sys.executable, "-m", "jobu"])
    assert applied.code == 0, str(applied)
    assert applied.out == "".join(f"applied {label}\n" for label in every), str(applied)
    assert applied.err == ""
    assert database.is_file(), "the SQLite file lands in JOBU_STATE_DIR"
    assert jobu.store.pending_migrations() == []
    jobu.store.check_schema()

    again, dry_again = jobu.run_all(["migrate"], ["migrate", "--dry-run"])
    for result in (again, dry_again):
        assert result.code == 0, str(result)
        assert result.out == f"sqlite:///{database}: up to date, nothing to apply\n", str(result)
    table, listed = jobu.run_all(["cron", "list"], ["cron", "list", "--json"])
    assert table.code == 0 and len(table.lines) == 1, str(table)
    assert table.lines[0].startswith("NAME  "), str(table)
    assert json.loads(listed.out) == []


# --- check-config --------------------------------------------------------------------------------


def test_check_config_prints_the_configuration_with_secrets_masked(jobu):
    jobu.append("database.yaml", "  warehouse:\n"
                                 "    driver: postgres\n"
                                 "    host: db.example.com\n"
                                 "    user: reports\n"
                                 "    password: hunter2-database-secret\n"
                                 "    dbname: warehouse\n")
    jobu.append("admin.yaml", "secret_key: cookie-signing-secret\n")
    url_env = {"JOBU_DATABASE_URL": "postgresql://jobu:url-secret-42@jobs.example.com/jobu"}

    as_yaml, as_json = jobu.run_all(["check-config"], ["check-config", "--json"], env=url_env)

    for result in (as_yaml, as_json):
        assert result.code == 0, str(result)
        assert result.err == "", str(result)
        for secret in ("hunter2-database-secret", "cookie-signing-secret", "url-secret-42"):
            assert secret not in result.out, f"{secret} printed\n{result}"
    assert as_yaml.lines[0] == f"# configuration in {jobu.config_dir} is valid"
    described = json.loads(as_json.out)
    assert yaml.safe_load(as_yaml.out) == described
    assert described["config_dir"] == str(jobu.config_dir)
    assert described["state_dir"] == str(jobu.state_dir)
    warehouse = described["databases"]["warehouse"]
    assert warehouse["password"] == MASK
    assert (warehouse["host"], warehouse["user"], warehouse["port"]) == (
        "db.example.com", "reports", 5432)
    assert described["admin"]["secret_key"] == MASK
    # JOBU_DATABASE_URL replaced the jobs database; its password is masked too.
    assert described["jobs_database"]["host"] == "jobs.example.com"
    assert described["jobs_database"]["password"] == MASK
    assert described["dispatcher"]["timezone"] == "UTC"


def test_check_config_of_the_shipped_files_without_secrets(jobu):
    described = jobu.json("check-config")
    assert described["jobs_database"]["driver"] == "sqlite"
    assert described["jobs_database"]["path"] == str(jobu.state_dir / "jobu.db")
    assert described["jobs_database"]["password"] is None
    assert not (jobu.state_dir / "jobu.db").exists(), "check-config opens no database"


def _duplicate_key(jobu: Jobu) -> tuple[str, str]:
    lines = (jobu.config_dir / "dispatcher.yaml").read_text(encoding="utf-8").splitlines()
    first = lines.index("timezone: UTC") + 1
    jobu.append("dispatcher.yaml", "timezone: Europe/Berlin\n")
    return "dispatcher.yaml", (f"dispatcher.yaml: line {len(lines) + 2}: duplicate key "
                               f"'timezone' (first at line {first})")


BAD_CONFIGS = {
    "unknown key": lambda jobu: (
        jobu.append("worker.yaml", "pool_sise: 8\n"),
        "worker.yaml: pool_sise: unknown key; did you mean 'pool_size'?"),
    "wrong type": lambda jobu: (
        jobu.replace("dispatcher.yaml", "min_cron_interval_seconds: 60",
                     "min_cron_interval_seconds: often"),
        "dispatcher.yaml: min_cron_interval_seconds: expected an integer, got 'often'"),
    "out of range": lambda jobu: (
        jobu.replace("admin.yaml", "page_size: 50", "page_size: 0"),
        "admin.yaml: page_size: must be between 1 and 1000, got 0"),
    "nested out of range": lambda jobu: (
        (jobu.config_dir / "database.yaml").write_text(
            "databases:\n  default:\n    driver: sqlite\n    path: jobu.db\n    pool_size: 0\n",
            encoding="utf-8"),
        "database.yaml: databases.default.pool_size: must be between 1 and 1000, got 0"),
    "duplicate key": _duplicate_key,
}


@pytest.mark.parametrize("kind", list(BAD_CONFIGS))
def test_a_bad_config_exits_78_with_one_line_naming_file_and_key(ready, kind):
    _, expected = BAD_CONFIGS[kind](ready)

    # Every command refuses to run on a bad configuration, not only check-config.
    command = ["cron", "list"] if kind == "unknown key" else ["check-config"]
    result = ready(*command)

    assert_refused(result, 78)
    assert result.err == f"jobu: {expected}\n", str(result)


def test_two_errors_in_two_files_are_both_reported_one_line_each(jobu):
    jobu.replace("admin.yaml", "page_size: 50", "page_size: 5000")
    jobu.replace("worker.yaml", "  - default\n", "  - default\n  - no spaces allowed\n")
    jobu.replace("worker.yaml", "lease_seconds: 30", "lease_seconds: 1")

    result = jobu("check-config")

    assert result.code == 78, str(result)
    assert result.out == "" and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 3, str(result)
    assert all(line.startswith("jobu: ") for line in lines)
    # Grouped by file, in the order database, dispatcher, worker, queue, admin.
    assert lines[0].startswith("jobu: worker.yaml: queues[1]: "), str(result)
    assert lines[1].startswith("jobu: worker.yaml: lease_seconds: "), str(result)
    assert lines[2] == "jobu: admin.yaml: page_size: must be between 1 and 1000, got 5000"


def test_an_obsolete_key_is_a_warning_of_check_config_not_a_refusal(jobu):
    with (jobu.config_dir / "worker.yaml").open("a") as worker_yaml:
        worker_yaml.write("retry_backoff_seconds: 10\n")

    result = jobu("check-config")

    assert result.code == 0, str(result)
    assert result.err.startswith("jobu: warning: worker.yaml: retry_backoff_seconds: no longer "
                                 "read: every execution carries its own backoff"), str(result)
    described = yaml.safe_load(result.out)
    assert "retry_backoff_seconds" not in described["worker"]
    assert described["notices"] == [result.err.removeprefix("jobu: warning: ").rstrip("\n")]


def test_a_secret_of_queue_or_admin_yaml_is_read_only_by_what_uses_it(ready):
    # The queue's SASL password and the admin's secret key come from variables that only
    # jobu-queued's and the admin's units set: the other commands run without them.
    (ready.config_dir / "queue.yaml").write_text(
        "kafka:\n  bootstrap_servers: [127.0.0.1:9]\n  security_protocol: SASL_PLAINTEXT\n"
        "  sasl_mechanism: PLAIN\n  sasl_username: jobu\n"
        "  sasl_password_env: JOBU_TEST_KAFKA_PASSWORD\n")
    ready.append("admin.yaml", "secret_key_env: JOBU_TEST_ADMIN_KEY\n")
    unset_queue = "queue.yaml: kafka.sasl_password_env: environment variable " \
                  "JOBU_TEST_KAFKA_PASSWORD is not set"
    unset_admin = "admin.yaml: secret_key_env: environment variable JOBU_TEST_ADMIN_KEY is " \
                  "not set"

    enqueued, listed, check, send = ready.run_all(
        ["enqueue", "noop"], ["cron", "list"], ["check-config"],
        ["queue", "send", "orders", "--handler", "noop"])

    assert enqueued.code == 0 and "queue.yaml" not in enqueued.err, str(enqueued)
    assert listed.code == 0, str(listed)
    assert check.code == 78, str(check)
    assert check.err.splitlines() == [f"jobu: {unset_queue}", f"jobu: {unset_admin}"]
    assert_refused(send, 78, says=unset_queue)


def test_config_dir_option_and_environment_problems(jobu, tmp_path):
    elsewhere = {"JOBU_CONFIG_DIR": str(tmp_path / "not-here")}
    by_option, missing_dir, relative_state = jobu.run_all(
        ["--config-dir", str(jobu.config_dir), "check-config"],
        ["--config-dir", str(tmp_path / "nowhere"), "check-config"],
        ["check-config"], env=elsewhere)
    assert by_option.code == 0, str(by_option)
    assert by_option.lines[0] == f"# configuration in {jobu.config_dir} is valid"
    assert_refused(missing_dir, 78, says=f"{tmp_path / 'nowhere'}: the config directory does "
                                         "not exist")
    assert_refused(relative_state, 78, says="not-here")

    result = jobu("check-config", env={"JOBU_STATE_DIR": "relative/dir"})
    assert_refused(result, 78, says="environment: JOBU_STATE_DIR: expected an absolute path")


# --- the database cannot be reached --------------------------------------------------------------


def test_an_unreachable_database_exits_69_with_one_line(jobu):
    # The pool waits pool_timeout_seconds for a connection before it gives up.
    text = (jobu.config_dir / "database.yaml").read_text(encoding="utf-8")
    text = text.replace("    path: jobu.db\n", "    path: jobu.db\n    pool_timeout_seconds: 1\n")
    (jobu.config_dir / "database.yaml").write_text(text, encoding="utf-8")

    postgres = jobu.run_all(["cron", "list"], ["migrate"],
                            env={"JOBU_DATABASE_URL": UNREACHABLE_POSTGRES})
    mysql = jobu("jobs", "list", env={"JOBU_DATABASE_URL": "mysql://x:y@127.0.0.1:1/x"})

    for result in [*postgres, mysql]:
        assert_refused(result, 69, says="127.0.0.1:1")
        assert ":y@" not in result.err, "the password is not printed"
    assert "PostgreSQL" in postgres[0].err


# --- cron add ------------------------------------------------------------------------------------


def test_cron_add_with_every_option(ready):
    added = ready.ok(
        "cron", "add", "weekday-report", "--schedule", "30 2 * * 1-5", "--handler", "report",
        "--params", '{"to": ["ops", "finance"], "pdf": true}', "--description", "Weekday report",
        "--timezone", "Europe/Berlin", "--allow-overlap", "--max-retry", "3",
        "--retry-backoff", "2.5", "--timeout", "600", "--priority", "7", "--queue", "reports",
        "--catch-up", "all", "--misfire-grace", "120", "--catch-up-max-runs", "4",
        "--dst-repeat", "both", "--jitter", "30", "--isolation", "process", "--force",
        "--disabled")
    cron = ready.json("cron", "show", "weekday-report")

    assert added == (f"added cron weekday-report (id {cron['id']}): 30 2 * * 1-5 Europe/Berlin "
                     "-> report; next: - (disabled)\n")
    assert {key: cron[key] for key in (
        "name", "schedule", "handler_name", "handler_params", "description", "timezone",
        "is_enabled", "allow_overlap", "max_retry", "retry_backoff_seconds", "timeout_seconds",
        "priority", "queue", "catch_up", "misfire_grace_seconds", "catch_up_max_runs",
        "dst_repeat", "jitter_seconds", "isolation")} == {
        "name": "weekday-report", "schedule": "30 2 * * 1-5", "handler_name": "report",
        "handler_params": {"to": ["ops", "finance"], "pdf": True},
        "description": "Weekday report", "timezone": "Europe/Berlin", "is_enabled": False,
        "allow_overlap": True, "max_retry": 3, "retry_backoff_seconds": 2.5,
        "timeout_seconds": 600, "priority": 7, "queue": "reports", "catch_up": "all",
        "misfire_grace_seconds": 120, "catch_up_max_runs": 4, "dst_repeat": "both",
        "jitter_seconds": 30, "isolation": "process"}
    assert {f.name for f in fields(CronJob)} <= set(cron), "every field of the cron is shown"
    assert cron["stats"]["total"] == 0
    stored = ready.store.cron_get("weekday-report")
    assert stored.catch_up is CatchUp.ALL and stored.dst_repeat is DstRepeat.BOTH
    assert stored.isolation is Isolation.PROCESS


def test_cron_add_defaults_and_the_time_zone_of_dispatcher_yaml(ready):
    text = (ready.config_dir / "dispatcher.yaml").read_text(encoding="utf-8")
    (ready.config_dir / "dispatcher.yaml").write_text(
        text.replace("timezone: UTC", "timezone: America/New_York"), encoding="utf-8")

    before = datetime.now(UTC)
    added = ready.ok("cron", "add", "minimal", "--schedule", "@daily", "--handler", "noop")
    after = datetime.now(UTC)

    stored = ready.store.cron_get("minimal")
    assert stored.spec == CronSpec(name="minimal", schedule="@daily", handler_name="noop",
                                   timezone="America/New_York")
    schedule = parse_schedule("@daily", "America/New_York")
    expected = {f"{schedule.next_after(t):%Y-%m-%d %H:%M:%S} UTC" for t in (before, after)}
    assert re.fullmatch(rf"added cron minimal \(id {stored.id}\): @daily America/New_York -> "
                        r"noop; next: (.*)\n", added)
    assert added.rsplit("next: ", 1)[1].strip() in expected


BAD_CRONS = [
    (["--schedule", "61 * * * *"], "field 'minute' out of range 0-59"),
    (["--params", '{"to": '], "--params is not valid JSON: Expecting value at line 1 column 8"),
    (["--params", '["ops"]'], "--params must be a JSON object ({...}), got list"),
    (["--timezone", "Mars/Olympus_Mons"], "unknown time zone 'Mars/Olympus_Mons'"),
    (["--schedule", "* * * * * */10"], "fires every 10 s; the minimum is 60 s"),
    (["--schedule", "every 30s"], "fires every 30 s; the minimum is 60 s"),
    (["--handler", "send report"], "handler name 'send report' is not valid"),
    (["--max-retry", "-1"], "max_retry must be at least 0, got -1"),
    (["--timeout", "0"], "timeout must be more than 0 seconds, got 0"),
]


def test_cron_add_refuses_bad_values_with_exit_65_and_one_line(ready):
    def argv(options: list[str], name: str = "nightly") -> list[str]:
        given = dict(zip(options[::2], options[1::2], strict=True))
        base = {"--schedule": "0 3 * * *", "--handler": "report", **given}
        return ["cron", "add", name, *[part for pair in base.items() for part in pair]]

    results = ready.run_all(*[argv(options) for options, _ in BAD_CRONS],
                            argv([], name="bad name"))

    for (_, says), result in zip(BAD_CRONS, results, strict=False):
        assert_refused(result, 65, says=says)
    assert_refused(results[-1], 65, says="cron name 'bad name' is not valid")
    assert ready.store.cron_list() == []


def test_cron_add_option_errors_are_usage_errors(ready):
    bad_choice, not_a_number, missing = ready.run_all(
        ["cron", "add", "x", "--schedule", "@daily", "--handler", "h", "--catch-up", "some"],
        ["cron", "add", "x", "--schedule", "@daily", "--handler", "h", "--priority", "high"],
        ["cron", "add", "x", "--schedule", "@daily"])
    for result in (bad_choice, not_a_number, missing):
        assert result.code == 2, str(result)
        assert "Traceback" not in result.err and "usage: jobu cron add" in result.err
    assert "--catch-up" in bad_choice.err and "--handler" in missing.err
    assert ready.store.cron_list() == []


def test_cron_add_a_duplicate_name_is_refused(ready):
    ready.ok("cron", "add", "nightly", "--schedule", "0 3 * * *", "--handler", "report")
    result = ready("cron", "add", "nightly", "--schedule", "0 4 * * *", "--handler", "other")

    assert result.code != 0, str(result)
    assert_refused(result, result.code, says="a cron named 'nightly' already exists")
    [cron] = ready.store.cron_list()
    assert (cron.schedule, cron.handler_name) == ("0 3 * * *", "report")


def test_cron_add_checks_the_handler_against_running_workers(ready):
    """An unserved handler: a warning and the cron stored (it waits for a worker), refused
    with --strict, not even checked with --force."""
    ready.store.worker_register(WorkerInfo(id="host1-123", kind="worker", hostname="host1",
                                           pid=123, handlers=("report", "resize")))
    unknown, strict, forced, known = ready.run_all(
        ["cron", "add", "a", "--schedule", "@daily", "--handler", "typo"],
        ["cron", "add", "s", "--schedule", "@daily", "--handler", "typo", "--strict"],
        ["cron", "add", "b", "--schedule", "@daily", "--handler", "typo", "--force"],
        ["cron", "add", "c", "--schedule", "@daily", "--handler", "resize"])

    served = "no running worker serves handler 'typo' (known: report, resize)"
    assert unknown.code == 0, str(unknown)
    assert unknown.err.startswith(f"jobu: warning: {served}; stored all the same"), str(unknown)
    assert_refused(strict, 65, says=served)
    assert "--strict" in strict.err
    assert forced.code == 0 and forced.err == "", str(forced)
    assert known.code == 0 and known.err == "", str(known)
    assert sorted(c.name for c in ready.store.cron_list()) == ["a", "b", "c"]


def test_enqueue_warns_of_an_unserved_handler_and_refuses_it_with_strict(ready):
    ready.store.worker_register(WorkerInfo(id="host1-123", kind="worker", hostname="host1",
                                           pid=123, handlers=("report",)))
    warned, strict, served = ready.run_all(["enqueue", "typo"], ["enqueue", "typo", "--strict"],
                                           ["enqueue", "report"])
    assert warned.code == 0 and warned.out.strip().isdigit(), str(warned)
    assert warned.err == ("jobu: warning: no running worker serves handler 'typo' (known: "
                          "report); stored all the same: it waits until a worker that has it "
                          "starts\n"), str(warned)
    assert_refused(strict, 65, says="no running worker serves handler 'typo'")
    assert served.code == 0 and served.err == "", str(served)
    assert sorted(e.handler_name for e in ready.store.execution_list(ExecutionFilter()).items) \
        == ["report", "typo"]


# --- cron list, show -----------------------------------------------------------------------------


def test_cron_list_table_json_and_enabled_only(ready):
    add_cron(ready.store, "nightly", schedule="30 2 * * *", timezone="Europe/Berlin")
    add_cron(ready.store, "paused", schedule="every 15m", handler_name="sync", is_enabled=False)
    before = datetime.now(UTC)

    table, enabled_table, listed, enabled = ready.run_all(
        ["cron", "list"], ["cron", "list", "--enabled"], ["cron", "list", "--json"],
        ["cron", "list", "--enabled", "--json"])
    after = datetime.now(UTC)

    for result in (table, enabled_table, listed, enabled):
        assert result.code == 0 and result.err == "", str(result)
    nightly_next = {parse_schedule("30 2 * * *", "Europe/Berlin").next_after(t)
                    for t in (before, after)}
    assert table.lines[0].split() == ["NAME", "ENABLED", "SCHEDULE", "TIMEZONE", "HANDLER",
                                      "NEXT", "(UTC)", "LAST", "TICK"]
    rows = {line.split()[0]: line for line in table.lines[1:]}
    assert sorted(rows) == ["nightly", "paused"]
    assert re.match(r"nightly\s+yes\s+30 2 \* \* \*\s+Europe/Berlin\s+report\s", rows["nightly"])
    assert any(f"{t:%Y-%m-%d %H:%M:%S}" in rows["nightly"] for t in nightly_next), str(table)
    assert re.search(r"^paused\s+no\s+every 15m\s+UTC\s+sync\s+-\s+-$", rows["paused"]), str(table)
    assert [line.split()[0] for line in enabled_table.lines[1:]] == ["nightly"]

    crons = {c["name"]: c for c in json.loads(listed.out)}
    assert sorted(crons) == ["nightly", "paused"]
    assert crons["paused"]["is_enabled"] is False
    assert crons["nightly"]["timezone"] == "Europe/Berlin"
    assert datetime.fromisoformat(crons["nightly"]["next_fire_time"]) in nightly_next
    assert [c["name"] for c in json.loads(enabled.out)] == ["nightly"]


def test_cron_show_with_its_statistics(ready):
    store = ready.store
    cron = add_cron(store, "nightly", handler_params={"to": "ops"}, priority=3, queue="reports",
                    timezone="Europe/Berlin", max_retry=2)
    ticks = [datetime(2026, 1, day, 2, 0, tzinfo=UTC) for day in (1, 2, 3, 4)]

    def tick(day: int, **fields: Any) -> int:
        return store.execution_insert(NewExecution(
            handler_name="report", param_source=ParamSource.CRON, job_id=cron.id,
            scheduled_time=ticks[day], queue=f"q{day}", **fields))

    succeeded, failed = tick(0), tick(1)
    store.execution_complete(succeeded, claim(store, succeeded).lease_token, {"pages": 3})
    store.execution_fail(failed, claim(store, failed).lease_token, "printer on fire")
    tick(2, status=Status.SKIPPED, error_message="the previous run was still running")
    tick(3, status=Status.MISSED, error_message="no dispatcher ran")

    table, shown = ready.run_all(["cron", "show", "nightly"],
                                 ["cron", "show", "nightly", "--json"])

    assert table.code == 0 and table.err == "", str(table)
    fields_shown = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in table.lines)
    assert fields_shown["name"] == "nightly"
    assert fields_shown["id"] == str(cron.id)
    assert fields_shown["schedule"] == "0 3 * * * (Europe/Berlin)"
    assert fields_shown["queue / priority"] == "reports / 3"
    assert fields_shown["retries"] == "2 (backoff 10 s)"
    assert fields_shown["runs"] == ("4 total, 1 ok, 1 failed, 0 timed out, 1 skipped, "
                                    "1 missed")
    assert fields_shown["duration"].startswith("avg ")
    assert len(fields_shown["next (UTC)"].split(", ")) == 3
    for key in ("last run", "start lateness", "last tick", "catch-up", "dst repeat", "jitter",
                "overlap", "isolation", "timeout", "params", "handler", "enabled",
                "description"):
        assert key in fields_shown, key

    described = json.loads(shown.out)
    assert described["id"] == cron.id and described["handler_params"] == {"to": "ops"}
    stats = described["stats"]
    assert (stats["job_id"], stats["total"], stats["success"], stats["failed"],
            stats["timeout"], stats["skipped"], stats["missed"]) == (cron.id, 4, 1, 1, 0, 1, 1)
    assert stats["avg_duration_seconds"] is not None
    assert len(described["next_fire_times"]) == 3
    assert all(datetime.fromisoformat(t).utcoffset() == timedelta(0)
               for t in described["next_fire_times"])


# --- cron edit, enable, disable ------------------------------------------------------------------


def test_cron_edit_changes_only_what_is_given(ready):
    store = ready.store
    original = add_cron(store, "nightly", handler_params={"to": "ops"}, description="report",
                        timezone="Europe/Berlin", allow_overlap=True, max_retry=2,
                        retry_backoff_seconds=4.0, timeout_seconds=60.0, priority=1,
                        queue="reports", catch_up=CatchUp.SKIP, misfire_grace_seconds=30,
                        catch_up_max_runs=3, dst_repeat=DstRepeat.BOTH, jitter_seconds=5,
                        isolation=Isolation.PROCESS)

    changed = ready.ok("cron", "edit", "nightly", "--priority", "9", "--params", '{"to": "cfo"}',
                       "--no-allow-overlap", "--catch-up", "all")
    assert changed.startswith("changed cron nightly (allow_overlap, catch_up, handler_params, "
                              "priority); next: ")
    edited = store.cron_get("nightly")
    assert edited.spec == replace(original.spec, priority=9, handler_params={"to": "cfo"},
                                  allow_overlap=False, catch_up=CatchUp.ALL)
    assert edited.version > original.version

    renamed = ready.ok("cron", "edit", "nightly", "--rename", "morning", "--schedule",
                       "0 6 * * *", "--timezone", "UTC")
    assert renamed.startswith("changed cron morning (name, schedule, timezone); next: ")
    moved = store.cron_get("morning")
    assert moved.id == original.id
    assert moved.spec == replace(edited.spec, name="morning", schedule="0 6 * * *",
                                 timezone="UTC")
    assert [c.name for c in store.cron_list()] == ["morning"]


def test_cron_edit_refusals_leave_the_cron_unchanged(ready):
    store = ready.store
    add_cron(store, "nightly")
    add_cron(store, "taken")
    before = store.cron_get("nightly")

    nothing, unknown, too_often, bad_zone, bad_rename, taken = ready.run_all(
        ["cron", "edit", "nightly"],
        ["cron", "edit", "nope", "--priority", "1"],
        ["cron", "edit", "nightly", "--schedule", "* * * * * */5"],
        ["cron", "edit", "nightly", "--timezone", "Europe/Atlantis"],
        ["cron", "edit", "nightly", "--rename", "new name"],
        ["cron", "edit", "nightly", "--rename", "taken"])

    assert_refused(nothing, 65, says="nothing to change")
    assert_refused(unknown, 66, says="no cron named 'nope'")
    assert_refused(too_often, 65, says="fires every 5 s")
    assert_refused(bad_zone, 65, says="unknown time zone 'Europe/Atlantis'")
    assert_refused(bad_rename, 65, says="cron name 'new name' is not valid")
    assert taken.code != 0, str(taken)
    assert_refused(taken, taken.code, says="taken")
    assert store.cron_get("nightly") == before


def test_cron_enable_and_disable(ready):
    add_cron(ready.store, "nightly")

    assert ready.ok("cron", "disable", "nightly") == "cron nightly is disabled\n"
    assert ready.store.cron_get("nightly").is_enabled is False
    assert ready.json("cron", "list", "--enabled") == []

    again, enabled = ready("cron", "disable", "nightly"), ready("cron", "enable", "nightly")
    assert again.code == 0 and again.out == "cron nightly is disabled\n", str(again)
    assert enabled.code == 0 and enabled.out == "cron nightly is enabled\n", str(enabled)
    assert ready.store.cron_get("nightly").is_enabled is True

    assert_refused(ready("cron", "disable", "nope"), 66, says="no cron named 'nope'")


# --- cron run-now, remove ------------------------------------------------------------------------


def test_cron_run_now_enqueues_an_execution_of_the_cron(ready):
    cron = add_cron(ready.store, "nightly", handler_params={"to": "ops"}, priority=4,
                    queue="reports", max_retry=2, retry_backoff_seconds=3.0,
                    timeout_seconds=30.0, isolation=Isolation.PROCESS)

    text, as_json, unknown = ready.run_all(["cron", "run-now", "nightly"],
                                           ["cron", "run-now", "nightly", "--json"],
                                           ["cron", "run-now", "nope"])

    assert text.code == 0 and text.err == "", str(text)
    first = int(re.fullmatch(r"enqueued execution (\d+) of cron nightly\n", text.out)[1])
    second = json.loads(as_json.out)
    assert second["cron"] == "nightly" and second["id"] != first
    assert_refused(unknown, 66, says="no cron named 'nope'")
    for execution_id in (first, second["id"]):
        execution = ready.store.execution_get(execution_id)
        assert execution.job_id == cron.id and execution.cron_name == "nightly"
        assert execution.status is Status.PENDING
        assert execution.param_source is ParamSource.MANUAL
        assert (execution.handler_name, execution.params, execution.priority, execution.queue,
                execution.max_retry, execution.retry_backoff_seconds, execution.timeout_seconds,
                execution.isolation) == ("report", {"to": "ops"}, 4, "reports", 2, 3.0, 30.0,
                                         Isolation.PROCESS)
    listed = ready.json("jobs", "list", "--cron", "nightly")
    assert sorted(ids_of(listed)) == sorted([first, second["id"]])


def test_cron_remove_keeps_the_history(ready):
    cron = add_cron(ready.store, "nightly")
    ready.store.execution_insert(NewExecution(handler_name="report", job_id=cron.id,
                                              param_source=ParamSource.CRON,
                                              scheduled_time=datetime(2026, 1, 1, 3, tzinfo=UTC)))
    run = json.loads(ready.ok("cron", "run-now", "nightly", "--json"))["id"]

    assert ready.ok("cron", "remove", "nightly") == (
        "removed cron nightly; its executions stay in the history\n")

    show, remove, shown = ready.run_all(
        ["cron", "show", "nightly"], ["cron", "remove", "nightly"],
        ["jobs", "show", str(run), "--json"])
    for result in (show, remove):
        assert_refused(result, 66, says="no cron named 'nightly'")
    kept = json.loads(shown.out)
    assert kept["id"] == run and kept["handler_name"] == "report"
    assert kept["cron_name"] is None
    assert ready.store.cron_list() == []
    assert len(ready.store.execution_list(ExecutionFilter()).items) == 2


# --- cron next -----------------------------------------------------------------------------------


def parse_next_line(line: str) -> tuple[datetime, str, timedelta]:
    match = NEXT_LINE.fullmatch(line)
    assert match, f"not a `cron next` line: {line!r}"
    local, abbreviation, sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    return datetime.fromisoformat(local), abbreviation, offset


def expected_daily_0230_berlin(day: date) -> tuple[str, str, timedelta]:
    """What `cron next` must print for the 02:30 tick of `day` in Europe/Berlin (DESIGN rules:
    a wall time in the spring-forward gap fires at the end of the gap; a repeated one at its
    first occurrence)."""
    wall = datetime(day.year, day.month, day.day, 2, 30)
    instant = wall.replace(tzinfo=BERLIN)
    round_trip = instant.astimezone(UTC).astimezone(BERLIN)
    if round_trip.replace(tzinfo=None) != wall:  # 02:30 does not exist that day
        gap_end = datetime(day.year, day.month, day.day, 3, 0, tzinfo=BERLIN)
        return "03:00:00", gap_end.tzname(), gap_end.utcoffset()
    first = wall.replace(tzinfo=BERLIN, fold=0)
    return "02:30:00", first.tzname(), first.utcoffset()


def test_cron_next_in_the_crons_time_zone_with_its_offset(ready):
    add_cron(ready.store, "berlin", schedule="30 2 * * *", timezone="Europe/Berlin")
    before = datetime.now(UTC)
    five, json_five, year, unknown, zero = ready.run_all(
        ["cron", "next", "berlin", "-n", "5"], ["cron", "next", "berlin", "--count", "5",
                                                "--json"],
        ["cron", "next", "berlin", "-n", "400"], ["cron", "next", "nope"],
        ["cron", "next", "berlin", "-n", "0"])
    after = datetime.now(UTC)

    assert five.code == 0 and five.err == "", str(five)
    assert len(five.lines) == 5
    times = []
    for line in five.lines:
        local, abbreviation, offset = parse_next_line(line)
        zoned = local.replace(tzinfo=BERLIN)
        assert (abbreviation, offset) == (zoned.tzname(), zoned.utcoffset()), line
        times.append(zoned.astimezone(UTC))
    schedule = parse_schedule("30 2 * * *", "Europe/Berlin")
    assert times in [schedule.next_times(t, 5) for t in (before, after)]

    entries = json.loads(json_five.out)
    assert len(entries) == 5
    for entry, line in zip(entries, five.lines, strict=True):
        local, utc = datetime.fromisoformat(entry["local"]), datetime.fromisoformat(entry["utc"])
        assert local == utc and utc.utcoffset() == timedelta(0)
        assert local.utcoffset() == BERLIN.utcoffset(local.replace(tzinfo=None))
        assert f"{local:%Y-%m-%d %H:%M:%S}" == line.split(" ")[0] + " " + line.split(" ")[1]

    # 400 days of a daily 02:30 cross both daylight-saving changes of Europe/Berlin.
    assert year.code == 0, str(year)
    lines = [parse_next_line(line) for line in year.lines]
    assert len(lines) == 400
    days = [local.date() for local, _, _ in lines]
    assert days == [days[0] + timedelta(days=i) for i in range(400)], "one tick a day"
    seen = set()
    for (local, abbreviation, offset), line in zip(lines, year.lines, strict=True):
        expected = expected_daily_0230_berlin(local.date())
        assert (f"{local:%H:%M:%S}", abbreviation, offset) == expected, line
        seen.add(expected)
    assert ("03:00:00", "CEST", timedelta(hours=2)) in seen, "the spring-forward day"
    assert ("02:30:00", "CEST", timedelta(hours=2)) in seen
    assert ("02:30:00", "CET", timedelta(hours=1)) in seen

    assert_refused(unknown, 66, says="no cron named 'nope'")
    assert_refused(zero, 65, says="--count must be at least 1, got 0")


def _last_sunday(year: int, month: int) -> date:
    day = date(year, month, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def test_cron_next_of_one_shot_times_on_daylight_saving_days(ready):
    year = datetime.now(UTC).year + 1
    spring, autumn = _last_sunday(year, 3), _last_sunday(year, 10)
    store = ready.store
    add_cron(store, "gap", schedule=f"{spring} 02:30", timezone="Europe/Berlin")
    add_cron(store, "fold", schedule=f"at {autumn} 02:30", timezone="Europe/Berlin",
             dst_repeat=DstRepeat.BOTH)
    add_cron(store, "fold-utc", schedule=f"{autumn}T01:30:00+00:00", timezone="Europe/Berlin")
    add_cron(store, "past", schedule="2020-01-01T00:00:00Z")

    gap, fold, fold_utc, past = ready.run_all(
        ["cron", "next", "gap"], ["cron", "next", "fold", "-n", "3"], ["cron", "next", "fold-utc"],
        ["cron", "next", "past"])

    # 02:30 does not exist on the spring-forward day: it fires when the gap ends.
    assert gap.out == f"{spring} 03:00:00 CEST (UTC+02:00)\n", str(gap)
    # 02:30 happens twice on the fall-back day: a one-shot fires once, at the first.
    assert fold.out == f"{autumn} 02:30:00 CEST (UTC+02:00)\n", str(fold)
    # 01:30 UTC that day is the second 02:30, in winter time.
    assert fold_utc.out == f"{autumn} 02:30:00 CET (UTC+01:00)\n", str(fold_utc)
    assert past.out == "cron past will not fire again\n", str(past)


# --- enqueue -------------------------------------------------------------------------------------


def test_enqueue_with_every_option(ready):
    out = ready.ok("enqueue", "resize", "--params", '{"width": 640, "formats": ["webp"]}',
                   "--count", "3", "--priority", "5", "--timeout", "2.5", "--max-retry", "2",
                   "--queue", "images", "--isolation", "process")

    ids = [int(line) for line in out.splitlines()]
    assert len(ids) == 3 and len(set(ids)) == 3
    rows = ready.store.execution_list(ExecutionFilter()).items
    assert sorted(e.id for e in rows) == sorted(ids)
    for execution in rows:
        assert (execution.handler_name, execution.params, execution.priority,
                execution.timeout_seconds, execution.max_retry, execution.queue,
                execution.isolation, execution.param_source, execution.status,
                execution.job_id, execution.dedupe_key) == (
            "resize", {"width": 640, "formats": ["webp"]}, 5, 2.5, 2, "images",
            Isolation.PROCESS, ParamSource.MANUAL, Status.PENDING, None, None)


def test_enqueue_defaults_and_json(ready):
    [execution_id] = ready.json("enqueue", "noop")
    execution = ready.store.execution_get(execution_id)
    assert (execution.params, execution.priority, execution.timeout_seconds,
            execution.max_retry, execution.queue, execution.isolation) == (
        {}, 0, None, 0, "default", Isolation.THREAD)
    two = ready.json("enqueue", "noop", "--count", "2")
    assert len(two) == 2 and execution_id not in two


def test_a_bulk_enqueue_prints_every_id_of_its_transactions(ready):
    """25,000 executions: three transactions of at most 10,000, every id printed once."""
    out = ready.ok("enqueue", "noop", "--count", "25000", "--params", '{"bulk": true}')
    ids = [int(line) for line in out.splitlines()]
    assert len(ids) == 25_000 and len(set(ids)) == 25_000
    page = ready.store.execution_list(ExecutionFilter(), limit=30_000).items
    assert {e.id for e in page} == set(ids)
    assert {(e.handler_name, json.dumps(e.params), e.status) for e in page} == {
        ("noop", '{"bulk": true}', Status.PENDING)}


def test_cron_next_count_is_bounded(ready):
    add_cron(ready.store, "nightly")
    most, beyond = ready.run_all(["cron", "next", "nightly", "-n", "10000", "--json"],
                                 ["cron", "next", "nightly", "-n", "10001"])
    assert most.code == 0 and len(json.loads(most.out)) == 10_000, str(most)
    assert_refused(beyond, 65, says="--count must be at most 10,000, got 10,001")


def test_enqueue_with_a_dedupe_key_is_idempotent(ready):
    first = ready.ok("enqueue", "charge", "--params", '{"order": 42}', "--dedupe-key",
                     "order-42")
    again, as_json = ready.run_all(
        ["enqueue", "charge", "--params", '{"order": 42}', "--dedupe-key", "order-42"],
        ["enqueue", "charge", "--dedupe-key", "order-42", "--json"])

    assert re.fullmatch(r"\d+\n", first)
    assert again.out == first, str(again)
    assert json.loads(as_json.out) == [int(first)]
    rows = ready.store.execution_list(ExecutionFilter()).items
    assert [(e.id, e.dedupe_key) for e in rows] == [(int(first), "order-42")]


def test_enqueue_refuses_bad_values(ready):
    results = ready.run_all(
        ["enqueue", "charge", "--dedupe-key", "k", "--count", "2"],
        ["enqueue", "charge", "--count", "0"],
        ["enqueue", "charge", "--params", "{'order': 1}"],
        ["enqueue", "charge", "--params", "42"],
        ["enqueue", "send report"],
        ["enqueue", "charge", "--timeout", "-1"],
        ["enqueue", "charge", "--count", "10000001"])
    expected = ["--dedupe-key names one execution; it cannot go with --count",
                "--count must be at least 1, got 0",
                "--params is not valid JSON: Expecting property name enclosed in double quotes "
                "at line 1 column 2",
                "--params must be a JSON object ({...}), got int",
                "handler name 'send report' is not valid",
                "timeout must be more than 0 seconds, got -1",
                "--count must be at most 10,000,000, got 10,000,001; split it into several "
                "enqueues"]
    for result, says in zip(results, expected, strict=True):
        assert_refused(result, 65, says=says)
    usage = ready("enqueue", "charge", "--isolation", "fork")
    assert usage.code == 2 and "--isolation" in usage.err, str(usage)
    assert ready.store.execution_list(ExecutionFilter()).items == []


# --- jobs list -----------------------------------------------------------------------------------


@pytest.fixture
def history(ready) -> dict[str, int]:
    """Executions of every kind, by label."""
    store = ready.store
    nightly = add_cron(store, "nightly")
    hourly = add_cron(store, "hourly", schedule="0 * * * *")
    old = datetime(2020, 1, 1, 3, 0, tzinfo=UTC)

    def insert(label: str, **fields: Any) -> int:
        values = {"handler_name": "report", "queue": f"q-{label}", **fields}
        return store.execution_insert(NewExecution(**values))

    made = {
        "old_success": insert("old_success", job_id=nightly.id, param_source=ParamSource.CRON,
                              scheduled_time=old),
        "old_failed": insert("old_failed", job_id=nightly.id, param_source=ParamSource.CRON,
                             scheduled_time=old + timedelta(days=1)),
        "hourly_pending": insert("hourly_pending", job_id=hourly.id,
                                 param_source=ParamSource.CRON,
                                 scheduled_time=datetime.now(UTC) - timedelta(minutes=5)),
        "resize_cancelled": insert("resize_cancelled", handler_name="resize"),
        "event_retry": insert("event_retry", handler_name="ingest",
                              param_source=ParamSource.EVENT, dedupe_key="orders/0/17",
                              max_retry=3),
        "resize_pending": insert("resize_pending", handler_name="resize"),
    }
    store.execution_complete(made["old_success"], claim(store, made["old_success"]).lease_token,
                             {"ok": True})
    store.execution_fail(made["old_failed"], claim(store, made["old_failed"]).lease_token,
                         "boom")
    store.execution_request_cancel(made["resize_cancelled"])
    store.execution_retry(made["event_retry"], claim(store, made["event_retry"]).lease_token,
                          3600, "broker hiccup")
    return made


def test_jobs_list_filters(ready, history):
    h = history
    cases = {
        ("--status", "pending"): {"hourly_pending", "resize_pending"},
        ("--status", "PENDING, cancelled", "--status", "Retry"): {
            "hourly_pending", "resize_pending", "resize_cancelled", "event_retry"},
        ("--cron", "nightly", "--status", "failed"): {"old_failed"},
        ("--handler", "resize"): {"resize_cancelled", "resize_pending"},
        ("--source", "event"): {"event_retry"},
        ("--source", "cron", "--since", "2020-01-02T00:00:00"): {"old_failed", "hourly_pending"},
        ("--until", "2020-01-02T03:00:00+00:00"): {"old_success"},  # the upper bound is open
        ("--cron", "nightly", "--until", "2020-01-02T04:00:01+01:00"): {"old_success",
                                                                         "old_failed"},
        ("--since", "1h"): set(h) - {"old_success", "old_failed"},
        ("--since", "2h", "--until", "1m"): {"hourly_pending"},
        (): set(h),
    }
    arguments = list(cases)
    results = ready.run_all(*[["jobs", "list", *args, "--json"] for args in arguments])

    by_id = {execution_id: label for label, execution_id in h.items()}
    for args, result in zip(arguments, results, strict=True):
        assert result.code == 0 and result.err == "", str(result)
        listing = json.loads(result.out)
        assert {by_id[i] for i in ids_of(listing)} == cases[args], args
        assert ids_of(listing) == sorted(ids_of(listing), reverse=True), "newest first"
        assert listing["next_before_id"] is None


def test_jobs_list_table(ready, history):
    table = ready.ok("jobs", "list").splitlines()

    assert table[0].split() == ["ID", "CRON", "HANDLER", "STATUS", "TRY", "SCHEDULED", "(UTC)",
                                "STARTED", "(UTC)", "TOOK", "ERROR"]
    rows = {int(line.split()[0]): line for line in table[1:]}
    assert sorted(rows) == sorted(history.values())
    assert re.search(r"\snightly\s+report\s+SUCCESS\s+1/1\s+2020-01-01 03:00:00\s",
                     rows[history["old_success"]])
    assert rows[history["old_failed"]].endswith(" boom")
    assert re.search(r"\s-\s+ingest\s+RETRY\s+1/4\s", rows[history["event_retry"]])
    assert rows[history["resize_cancelled"]].endswith("cancelled by an operator")


def test_jobs_list_refuses_bad_filters(ready, history):
    bad_status, unknown_cron, bad_until, bad_limit = ready.run_all(
        ["jobs", "list", "--status", "pending,done"], ["jobs", "list", "--cron", "nope"],
        ["jobs", "list", "--until", "yesterday"], ["jobs", "list", "--limit", "0"])
    assert_refused(bad_status, 65, says="--status takes PENDING, RUNNING")
    assert_refused(unknown_cron, 66, says="no cron named 'nope'")
    assert_refused(bad_until, 65, says="--until 'yesterday' is neither an ISO 8601 time")
    assert_refused(bad_limit, 65, says="--limit must be at least 1, got 0")
    usage = ready("jobs", "list", "--source", "kafka")
    assert usage.code == 2 and "--source" in usage.err, str(usage)


def test_jobs_list_pages_with_the_before_id_hint(ready):
    ids = ready.store.execution_insert_many(
        [NewExecution(handler_name="noop", params={"n": n}) for n in range(7)])
    seen: list[int] = []
    pages = 0
    args = ["jobs", "list", "--limit", "3"]
    while True:
        out = ready.ok(*args).splitlines()
        pages += 1
        assert out[0].startswith("ID ")
        hint = re.fullmatch(r"\(more: --before-id (\d+)\)", out[-1])
        rows = out[1:-1] if hint else out[1:]
        assert len(rows) == (3 if hint else 1)
        seen += [int(row.split()[0]) for row in rows]
        if not hint:
            break
        assert int(hint[1]) == seen[-1]
        args = ["jobs", "list", "--limit", "3", "--before-id", hint[1]]
    assert pages == 3
    assert seen == sorted(ids, reverse=True)

    first_page = ready.json("jobs", "list", "--limit", "4")
    assert ids_of(first_page) == seen[:4]
    assert first_page["next_before_id"] == seen[3]


# --- jobs show, retry, cancel --------------------------------------------------------------------


def test_jobs_show_with_the_error_of_every_attempt(ready):
    store = ready.store
    execution_id = store.execution_insert(NewExecution(
        handler_name="import", params={"file": "a.csv"}, max_retry=1, queue="imports",
        dedupe_key="import-a"))
    store.execution_retry(execution_id, claim(store, execution_id, "host1-7").lease_token, 0,
                          "connection reset",
                          traceback="Traceback (most recent call last):\nConnectionResetError")
    store.execution_fail(execution_id, claim(store, execution_id, "host2-9").lease_token,
                         "bad row 17", traceback="Traceback (most recent call last):\n"
                                                 "ValueError: bad row 17")

    table, shown, unknown = ready.run_all(["jobs", "show", str(execution_id)],
                                          ["jobs", "show", str(execution_id), "--json"],
                                          ["jobs", "show", "424242"])

    assert table.code == 0 and table.err == "", str(table)
    head, *attempts = table.out.split("\n\n")
    fields_shown = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in head.splitlines())
    assert fields_shown["id"] == str(execution_id)
    assert fields_shown["status"] == "FAILED"
    assert fields_shown["handler"] == "import"
    assert fields_shown["attempt"] == "2/2"
    assert fields_shown["queue / priority"] == "imports / 0"
    assert fields_shown["error"] == "bad row 17"
    assert fields_shown["dedupe key"] == "import-a"
    assert fields_shown["source"] == "manual"
    assert "{" in fields_shown["params"] and "a.csv" in fields_shown["params"]
    assert len(attempts) == 2
    assert re.match(r"attempt 1 FAILED at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC on host1-7: "
                    r"connection reset\nTraceback \(most recent call last\):\n"
                    r"ConnectionResetError$", attempts[0]), str(table)
    assert re.match(r"attempt 2 FAILED at .* UTC on host2-9: bad row 17\nTraceback",
                    attempts[1]), str(table)
    assert attempts[1].rstrip().endswith("ValueError: bad row 17")

    described = json.loads(shown.out)
    assert described["id"] == execution_id and described["status"] == "FAILED"
    assert described["params"] == {"file": "a.csv"}
    assert [(e["attempt"], e["status"], e["error_message"], e["worker_id"])
            for e in described["attempt_errors"]] == [
        (1, "FAILED", "connection reset", "host1-7"), (2, "FAILED", "bad row 17", "host2-9")]
    assert described["attempt_errors"][1]["traceback"].endswith("ValueError: bad row 17")
    assert_refused(unknown, 66, says="no execution with id 424242")


def test_jobs_retry_and_cancel(ready):
    store = ready.store
    waiting = store.execution_insert(NewExecution(handler_name="noop", queue="a"))
    running = store.execution_insert(NewExecution(handler_name="noop", queue="b"))
    claim(store, running, "host1-7")

    refused_retry = ready("jobs", "retry", str(waiting))
    assert_refused(refused_retry, 1, says=f"execution {waiting} is PENDING; only a finished one "
                                          "can be retried")
    assert store.execution_get(waiting).status is Status.PENDING

    assert ready.ok("jobs", "cancel", str(waiting)) == f"execution {waiting} cancelled\n"
    cancelled = store.execution_get(waiting)
    assert cancelled.status is Status.CANCELLED and cancelled.finished_at is not None

    again, asked, unknown_cancel, unknown_retry = ready.run_all(
        ["jobs", "cancel", str(waiting)], ["jobs", "cancel", str(running)],
        ["jobs", "cancel", "424242"], ["jobs", "retry", "424242"])
    assert_refused(again, 1, says=f"execution {waiting} has already finished (CANCELLED)")
    assert asked.code == 0, str(asked)
    assert asked.out == (f"execution {running} is running on host1-7; its worker was asked to "
                         "stop it\n")
    still_running = store.execution_get(running)
    assert still_running.status is Status.RUNNING and still_running.cancel_requested
    assert_refused(unknown_cancel, 66, says="no execution with id 424242")
    assert_refused(unknown_retry, 66, says="no execution with id 424242")

    assert ready.ok("jobs", "retry", str(waiting)) == (
        f"execution {waiting} is PENDING again, from attempt 1\n")
    retried = store.execution_get(waiting)
    assert retried.status is Status.PENDING and retried.attempt == 0
    [claimed] = store.execution_claim("w2", ["a"], 1, 30)
    assert (claimed.id, claimed.attempt) == (waiting, 1)


# --- bugs: each of these tests fails on the current code -----------------------------------------


def test_a_not_a_number_timeout_or_backoff_is_refused(ready):
    # jobu/validation.py: `timeout_seconds <= 0` and `_at_least` compare with NaN, which is
    # always false, so NaN passes. `enqueue --timeout nan` then stores NULL on SQLite (the
    # execution silently gets no timeout) and `cron add --retry-backoff nan` hits the NOT NULL
    # column, which Store.cron_create reports as "a cron named ... already exists" (exit 1).
    enqueue, add_timeout, add_backoff = ready.run_all(
        ["enqueue", "report", "--timeout", "nan"],
        ["cron", "add", "a", "--schedule", "@daily", "--handler", "report", "--timeout", "nan"],
        ["cron", "add", "b", "--schedule", "@daily", "--handler", "report",
         "--retry-backoff", "nan"])
    assert_refused(enqueue, 65, says="timeout")
    assert_refused(add_timeout, 65, says="timeout")
    assert_refused(add_backoff, 65, says="retry_backoff")
    assert ready.store.cron_list() == []
    assert ready.store.execution_list(ExecutionFilter()).items == []


def test_numbers_too_large_for_the_database_give_one_line_not_a_traceback(ready):
    # An OverflowError from sqlite3 (not a sqlite3.Error, so jobu.db does not translate it)
    # and one from timedelta escape jobu.cli.main as a traceback with exit 1.
    huge = "99999999999999999999"
    results = ready.run_all(
        ["jobs", "show", huge], ["enqueue", "report", "--priority", huge],
        ["cron", "add", "x", "--schedule", "@daily", "--handler", "h", "--misfire-grace", huge],
        ["jobs", "list", "--since", "99999999999d"])
    assert "Traceback" not in results[0].err, str(results[0])
    assert_refused(results[0], 66 if results[0].code == 66 else 65)
    for result in results[1:]:
        assert_refused(result, 65)


def test_a_name_with_a_trailing_line_break_is_refused(ready):
    # jobu/validation.py NAME_PATTERN ends in `$`, which matches before a final "\n": a cron
    # or handler name with a trailing line break is accepted and stored.
    add, enqueue = ready.run_all(
        ["cron", "add", "nightly\n", "--schedule", "@daily", "--handler", "report"],
        ["enqueue", "report\n"])
    assert_refused(add, 65, says="is not valid")
    assert_refused(enqueue, 65, says="is not valid")
    assert ready.store.cron_list() == []
