"""jobu.config: the shipped files, defaults, every kind of bad input, URLs, secrets, environment.

Each test writes its own config directory under tmp_path and passes `environ` explicitly, so
neither /etc/jobu nor the caller's environment can change the outcome.
"""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from marshmallow import fields

from jobu.config import (
    CHECKOUT_CONFIG_DIR,
    Config,
    DispatcherConfig,
    QueueConfig,
    TopicConfig,
    WorkerConfig,
    default_config_dir,
    describe_config,
    load_config,
    mask_url_password,
    parse_database_url,
)
from jobu.config.schemas import FILE_SCHEMAS, OBSOLETE_KEYS
from jobu.errors import ConfigError, InvalidInputError
from jobu.model import DatabaseSpec, Status
from jobu.validation import check_name

SHIPPED = Path(__file__).resolve().parents[2] / "etc" / "jobu"
MASK = "********"


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def load(directory: Path, files: dict[str, str], environ: dict[str, str] | None = None) -> Config:
    return load_config(write(directory, files), environ=environ or {})


def problems(directory: Path, files: dict[str, str],
             environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(directory, files, environ)
    return caught.value.problems


# --- the shipped files and the defaults ----------------------------------------------------------


def test_shipped_files_load_and_equal_the_defaults(tmp_path):
    shipped = load_config(SHIPPED, environ={})
    defaults = load_config(tmp_path, environ={})

    for part in ("state_dir", "databases", "jobs_database", "dispatcher", "worker", "queue",
                 "admin"):
        assert getattr(shipped, part) == getattr(defaults, part), part


def test_documented_defaults(tmp_path):
    config = load_config(tmp_path, environ={})

    assert config.config_dir == tmp_path
    assert config.state_dir == Path("/var/lib/jobu")
    assert config.jobs_database == DatabaseSpec(name="default", driver="sqlite",
                                                path="/var/lib/jobu/jobu.db")
    assert config.databases == {"default": config.jobs_database}
    assert config.dispatcher == DispatcherConfig()
    assert config.dispatcher.timezone == "UTC"
    assert config.dispatcher.retention_days == {
        Status.SUCCESS: 30, Status.FAILED: 90, Status.TIMEOUT: 90, Status.CANCELLED: 90,
        Status.SKIPPED: 90, Status.MISSED: 90}
    assert config.worker == WorkerConfig(databases=("default",))
    assert (config.worker.pool_size, config.worker.claim_batch_size) == (4, 4)
    assert config.worker.queues == ("default",)
    assert config.worker.default_timeout_seconds is None
    assert config.queue == QueueConfig()
    assert config.queue.enabled is False
    assert config.admin.bind == "127.0.0.1:8080"
    assert config.admin.secret_key is None


def test_metrics_are_served_by_no_daemon_and_need_sign_in_unless_configured(tmp_path):
    defaults = load_config(tmp_path, environ={})
    assert (defaults.dispatcher.metrics_bind, defaults.worker.metrics_bind,
            defaults.queue.metrics_bind, defaults.admin.metrics_public) == (None, None, None, False)
    for name in ("dispatcher.yaml", "worker.yaml", "queue.yaml"):
        (tmp_path / name).write_text("metrics_bind: '[::1]:9188'\n")
    (tmp_path / "admin.yaml").write_text("metrics_public: true\n")
    config = load_config(tmp_path, environ={})
    assert (config.dispatcher.metrics_bind, config.worker.metrics_bind,
            config.queue.metrics_bind) == ("[::1]:9188",) * 3
    assert config.admin.metrics_public is True


def test_sign_in_limits_cookies_proxy_and_audit_retention(tmp_path):
    defaults = load_config(tmp_path, environ={})
    assert (defaults.admin.login_attempts, defaults.admin.login_window_seconds,
            defaults.admin.secure_cookies, defaults.admin.proxy_headers,
            defaults.dispatcher.audit_retention_days) == (5, 600, "auto", False, 365)
    config = load(tmp_path, {
        "admin.yaml": "login_attempts: 3\nlogin_window_seconds: 60\nsecure_cookies: true\n"
                      "proxy_headers: true\n",
        "dispatcher.yaml": "audit_retention_days: 0\n"})
    assert (config.admin.login_attempts, config.admin.login_window_seconds,
            config.admin.secure_cookies, config.admin.proxy_headers,
            config.dispatcher.audit_retention_days) == (3, 60, "true", True, 0)
    assert load(tmp_path, {"admin.yaml": "secure_cookies: AUTO\n"}).admin.secure_cookies == "auto"
    assert load(tmp_path, {"admin.yaml": "secure_cookies: false\n"}).admin.secure_cookies \
        == "false"


@pytest.mark.parametrize("name", list(FILE_SCHEMAS))
def test_shipped_file_documents_every_key(name):
    text = (SHIPPED / name).read_text(encoding="utf-8")
    schema = FILE_SCHEMAS[name]()
    keys = set(schema.fields) - set(OBSOLETE_KEYS.get(name, {}))
    for field in schema.fields.values():
        section = getattr(field, "value_field", field)
        if isinstance(section, fields.Nested):
            keys |= set(section.schema.fields)

    undocumented = sorted(key for key in keys
                          if not re.search(rf"^[#\s]*{key}\b", text, re.MULTILINE))

    assert undocumented == []


@pytest.mark.parametrize("name", ["dispatcher.yaml", "worker.yaml", "queue.yaml", "admin.yaml"])
def test_each_schema_key_is_a_dataclass_field(name):
    config_class = type(getattr(load_config(SHIPPED, environ={}), name.removesuffix(".yaml")))
    secret_sources = {"sasl_password_file", "sasl_password_env", "secret_key_file",
                      "secret_key_env"}

    keys = set(FILE_SCHEMAS[name]().fields) - secret_sources - set(OBSOLETE_KEYS.get(name, {}))

    assert keys == {spec.name for spec in dataclasses.fields(config_class)}


def test_default_config_dir(tmp_path, monkeypatch):
    assert default_config_dir({"JOBU_CONFIG_DIR": str(tmp_path)}) == tmp_path
    expected = Path("/etc/jobu") if Path("/etc/jobu").is_dir() else CHECKOUT_CONFIG_DIR
    assert default_config_dir({}) == expected
    assert CHECKOUT_CONFIG_DIR == SHIPPED


def test_a_missing_config_dir_given_explicitly_is_an_error(tmp_path):
    missing = tmp_path / "nowhere"

    with pytest.raises(ConfigError, match="nowhere: the config directory does not exist"):
        load_config(missing, environ={})
    with pytest.raises(ConfigError, match="nowhere: the config directory does not exist"):
        load_config(environ={"JOBU_CONFIG_DIR": str(missing)})


def test_jobu_config_dir_is_read(tmp_path):
    write(tmp_path, {"worker.yaml": "pool_size: 7\n"})

    assert load_config(environ={"JOBU_CONFIG_DIR": str(tmp_path)}).worker.pool_size == 7


def test_an_empty_file_means_its_defaults(tmp_path):
    config = load(tmp_path, {"worker.yaml": "# nothing set\n", "admin.yaml": ""})

    assert config.admin.page_size == 50
    assert config.worker.pool_size == 4


# --- values that are read ------------------------------------------------------------------------


def test_claim_batch_size_defaults_to_pool_size(tmp_path):
    assert load(tmp_path, {"worker.yaml": "pool_size: 8\n"}).worker.claim_batch_size == 8
    explicit = load(tmp_path, {"worker.yaml": "pool_size: 8\nclaim_batch_size: 2\n"})
    assert explicit.worker.claim_batch_size == 2
    assert WorkerConfig(pool_size=3).claim_batch_size == 3


def test_choices_are_matched_regardless_of_case(tmp_path):
    config = load(tmp_path, {
        "dispatcher.yaml": "log_level: debug\nlog_format: JSON\n",
        "database.yaml": "databases:\n  default: {driver: PostgreSQL, dbname: jobs}\n",
    })

    assert (config.dispatcher.log_level, config.dispatcher.log_format) == ("DEBUG", "json")
    assert config.jobs_database.driver == "postgres"
    assert config.jobs_database.port == 5432


def test_retention_days_given_replace_only_their_status(tmp_path):
    config = load(tmp_path, {"dispatcher.yaml": "retention_days:\n  success: 7\n  MISSED: 0\n"})

    assert config.dispatcher.retention_days[Status.SUCCESS] == 7
    assert config.dispatcher.retention_days[Status.MISSED] == 0
    assert config.dispatcher.retention_days[Status.FAILED] == 90


def test_queue_topics_and_kafka(tmp_path):
    config = load(tmp_path, {"queue.yaml": """\
        enabled: true
        kafka:
          bootstrap_servers: [kafka1:9092, "[::1]:9093"]
          security_protocol: sasl_ssl
          sasl_mechanism: SCRAM-SHA-512
          sasl_username: jobu
          sasl_password_env: KAFKA_PASSWORD
        topics:
          orders.created: {handler: process_order, max_retry: 3, timeout_seconds: 30}
        """}, environ={"KAFKA_PASSWORD": "s3cret"})

    assert config.queue.enabled is True
    assert config.queue.kafka.bootstrap_servers == ("kafka1:9092", "[::1]:9093")
    assert config.queue.kafka.security_protocol == "SASL_SSL"
    assert config.queue.kafka.sasl_password == "s3cret"
    assert config.queue.kafka.group_id == "jobu"
    assert config.queue.topics == {"orders.created": TopicConfig(
        handler="process_order", max_retry=3, timeout_seconds=30.0)}


@pytest.mark.parametrize("name", ["reports", "a:b", "v1.2-x_y", "_x", "-x", "a b", "a/b",
                                  "x" * 200, "x" * 201])
def test_a_queue_or_handler_name_has_one_grammar_everywhere(tmp_path, name):
    # What `jobu enqueue --queue` and `cron add` accept, worker.yaml may serve and
    # queue.yaml may name, and nothing else (before, "a:b" could be enqueued, not served).
    try:
        check_name(name, "queue name")
        valid = True
    except InvalidInputError:
        valid = False
    files = {"worker.yaml": yaml.safe_dump({"queues": [name]}),
             "queue.yaml": yaml.safe_dump({"topics": {"orders": {"handler": name,
                                                                 "queue": name}}})}
    if valid:
        config = load(tmp_path, files)
        assert config.worker.queues == (name,)
        assert config.queue.topics["orders"].handler == name
    else:
        found = problems(tmp_path, files)
        assert sorted(tuple(line.split(": ", 2)[:2]) for line in found) == [
            ("queue.yaml", "topics.orders.handler"), ("queue.yaml", "topics.orders.queue"),
            ("worker.yaml", "queues[0]")], found
        assert all("1-200 letters, digits and . _ : -" in line for line in found), found


def test_an_obsolete_key_loads_and_is_a_notice_not_a_setting(tmp_path):
    # worker.yaml of 0.x set retry_backoff_seconds, which no execution ever used: the file of
    # an upgraded host still loads, and says what to do.
    config = load(tmp_path, {"worker.yaml": "retry_backoff_seconds: 10\npool_size: 2\n"})

    assert config.worker.pool_size == 2
    assert not hasattr(config.worker, "retry_backoff_seconds")
    [notice] = config.notices
    assert notice.startswith("worker.yaml: retry_backoff_seconds: no longer read: every "
                             "execution carries its own backoff")
    assert notice.endswith("remove the key")
    assert load_config(SHIPPED, environ={}).notices == ()


def test_worker_databases_default_to_all_and_handler_paths_are_resolved(tmp_path):
    (tmp_path / "handlers").mkdir()
    config = load(tmp_path, {
        "database.yaml": """\
            databases:
              default: {driver: sqlite, path: a.db}
              reports: {url: "sqlite:///b.db"}
            """,
        "worker.yaml": "handler_paths: [handlers]\nhandler_modules: [my.jobs]\n",
    })

    assert config.worker.databases == ("default", "reports")
    assert config.worker.handler_paths == (str(tmp_path / "handlers"),)
    assert config.worker.handler_modules == ("my.jobs",)


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    config = load(tmp_path, {"database.yaml": """\
        databases:
          default: &base {driver: sqlite, path: a.db, pool_size: 2}
          other:
            <<: *base
            path: b.db
        """})

    assert config.databases["other"].path == "/var/lib/jobu/b.db"
    assert config.databases["other"].pool_size == 2


# --- bad input: each kind gets its own message naming file and key ------------------------------


@pytest.mark.parametrize(("files", "expected"), [
    ({"worker.yaml": "pool_sise: 4\n"},
     "worker.yaml: pool_sise: unknown key; did you mean 'pool_size'?"),
    ({"worker.yaml": "colour: blue\n"}, "worker.yaml: colour: unknown key"),
    ({"database.yaml": "databases:\n  default: {driver: sqlite, path: a.db, pool_sise: 2}\n"},
     "database.yaml: databases.default.pool_sise: unknown key; did you mean 'pool_size'?"),
    ({"queue.yaml": "kafka:\n  group: x\n"},
     "queue.yaml: kafka.group: unknown key; did you mean 'group_id'?"),
    ({"worker.yaml": "pool_size: four\n"},
     "worker.yaml: pool_size: expected an integer, got 'four'"),
    ({"worker.yaml": "pool_size: true\n"}, "worker.yaml: pool_size: expected an integer, got true"),
    ({"worker.yaml": "pool_size: 2.5\n"}, "worker.yaml: pool_size: expected an integer, got 2.5"),
    ({"worker.yaml": "pool_size:\n"}, "worker.yaml: pool_size: expected an integer, got null"),
    ({"worker.yaml": "lease_seconds: soon\n"},
     "worker.yaml: lease_seconds: expected a number, got 'soon'"),
    ({"worker.yaml": "queues: default\n"}, "worker.yaml: queues: expected a list, got 'default'"),
    ({"worker.yaml": "queues: [a, 5]\n"}, "worker.yaml: queues[1]: expected a string, got 5"),
    ({"admin.yaml": "read_only: 'no'\n"},
     "admin.yaml: read_only: expected true or false, got 'no'"),
    ({"worker.yaml": "pool_size: 0\n"},
     "worker.yaml: pool_size: must be between 1 and 1024, got 0"),
    ({"worker.yaml": "lease_seconds: 1\n"},
     "worker.yaml: lease_seconds: must be at least 5, got 1.0"),
    ({"worker.yaml": "poll_interval_seconds: 0\n"},
     "worker.yaml: poll_interval_seconds: must be greater than 0, got 0.0"),
    ({"worker.yaml": "heartbeat_interval_seconds: 30\n"},
     "worker.yaml: heartbeat_interval_seconds: must be less than lease_seconds (30), got 30"),
    ({"worker.yaml": "heartbeat_interval_seconds: 12\nlease_seconds: 10\n"},
     "worker.yaml: heartbeat_interval_seconds: must be less than lease_seconds (10), got 12"),
    ({"worker.yaml": "pool_size: 2\nclaim_batch_size: 3\n"},
     "worker.yaml: claim_batch_size: must be at most pool_size (2), got 3"),
    ({"worker.yaml": "retry_backoff_seconds: -1\n"},
     "worker.yaml: retry_backoff_seconds: must be at least 0, got -1"),
    ({"worker.yaml": "handler_modules: [jobs.2fast]\n"},
     "worker.yaml: handler_modules[0]: expected a dotted module name, got 'jobs.2fast'"),
    ({"worker.yaml": "handler_paths: [missing]\n"}, "worker.yaml: handler_paths[0]: "),
    ({"worker.yaml": "databases: [default, reporting]\n"},
     "worker.yaml: databases[1]: no database named 'reporting' in database.yaml"),
    ({"dispatcher.yaml": "timezone: Europe/Pariss\n"},
     "dispatcher.yaml: timezone: expected an IANA time zone such as 'Europe/Paris' or 'UTC', "
     "got 'Europe/Pariss'; did you mean 'Europe/Paris'?"),
    ({"dispatcher.yaml": "retention_days: {DONE: 3}\n"},
     "dispatcher.yaml: retention_days.DONE: expected a final status (SUCCESS, FAILED, TIMEOUT, "
     "CANCELLED, SKIPPED, MISSED), got 'DONE'"),
    ({"dispatcher.yaml": "retention_days: {FAILED: -1}\n"},
     "dispatcher.yaml: retention_days.FAILED: must be at least 0, got -1"),
    ({"dispatcher.yaml": "poll_interval_seconds: 90\n"},
     "dispatcher.yaml: poll_interval_seconds: must be at most max_sleep_seconds (60), got 90"),
    ({"dispatcher.yaml": "log_format: xml\n"},
     "dispatcher.yaml: log_format: expected one of 'text', 'json', got 'xml'"),
    ({"admin.yaml": "bind: localhost\n"},
     "admin.yaml: bind: expected host:port with a port from 1 to 65535, got 'localhost'"),
    ({"admin.yaml": "bind: unix:run/admin.sock\n"},
     "admin.yaml: bind: expected an absolute path, got 'run/admin.sock'"),
    ({"admin.yaml": "page_size: 5000\n"},
     "admin.yaml: page_size: must be between 1 and 1000, got 5000"),
    ({"admin.yaml": "login_attempts: 0\n"},
     "admin.yaml: login_attempts: must be between 1 and 1000, got 0"),
    ({"admin.yaml": "login_window_seconds: soon\n"},
     "admin.yaml: login_window_seconds: expected a number, got 'soon'"),
    ({"admin.yaml": "secure_cookies: sometimes\n"},
     "admin.yaml: secure_cookies: expected one of 'auto', 'true', 'false', got 'sometimes'"),
    ({"admin.yaml": "proxy_headers: 'yes'\n"},
     "admin.yaml: proxy_headers: expected true or false, got 'yes'"),
    ({"dispatcher.yaml": "audit_retention_days: -1\n"},
     "dispatcher.yaml: audit_retention_days: must be at least 0, got -1"),
    ({"admin.yaml": "metrics_public: 'yes'\n"},
     "admin.yaml: metrics_public: expected true or false, got 'yes'"),
    ({"worker.yaml": "metrics_bind: 9188\n"},
     "worker.yaml: metrics_bind: expected a string, got 9188"),
    ({"dispatcher.yaml": "metrics_bind: localhost\n"},
     "dispatcher.yaml: metrics_bind: expected host:port with a port from 1 to 65535, "
     "got 'localhost'"),
    ({"queue.yaml": "metrics_bind: '127.0.0.1:70000'\n"},
     "queue.yaml: metrics_bind: expected host:port with a port from 1 to 65535, "
     "got '127.0.0.1:70000'"),
    ({"worker.yaml": "metrics_bind: unix:/run/jobu/metrics.sock\n"},
     "worker.yaml: metrics_bind: expected host:port with a port from 1 to 65535, "
     "got 'unix:/run/jobu/metrics.sock'"),
    ({"admin.yaml": "secret_key: a\nsecret_key_file: key\n"},
     "admin.yaml: secret_key_file: cannot be combined with secret_key; "
     "give the secret one way only"),
    ({"queue.yaml": "enabled: true\n"},
     "queue.yaml: kafka.bootstrap_servers: is required when enabled is true"),
    ({"queue.yaml": "enabled: true\nkafka: {bootstrap_servers: ['k:9092']}\n"},
     "queue.yaml: topics: needs at least one topic when enabled is true"),
    ({"queue.yaml": "topics:\n  orders: {queue: fast}\n"},
     "queue.yaml: topics.orders.handler: is required"),
    ({"queue.yaml": "topics:\n  'bad topic': {handler: h}\n"},
     "queue.yaml: topics['bad topic']: expected a Kafka topic name, got 'bad topic'"),
    ({"queue.yaml": "kafka: {security_protocol: SASL_SSL}\n"},
     "queue.yaml: kafka.sasl_mechanism: is required with security_protocol SASL_SSL"),
    ({"queue.yaml": "kafka: {sasl_mechanism: PLAIN}\n"},
     "queue.yaml: kafka.sasl_mechanism: is used with security_protocol SASL_PLAINTEXT or "
     "SASL_SSL only, not PLAINTEXT"),
    ({"queue.yaml": "kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN}\n"},
     "queue.yaml: kafka.sasl_password: is required with sasl_mechanism PLAIN"),
    ({"queue.yaml": "kafka: secure\n"}, "queue.yaml: kafka: expected a mapping, got 'secure'"),
    ({"database.yaml": "databases:\n  default: {driver: oracle}\n"},
     "database.yaml: databases.default.driver: expected one of 'sqlite', 'postgres', 'mysql', "
     "got 'oracle'"),
    ({"database.yaml": "databases:\n  default: {path: a.db}\n"},
     "database.yaml: databases.default: needs either url or driver"),
    ({"database.yaml": "databases:\n  default: {driver: sqlite}\n"},
     "database.yaml: databases.default.path: is required with driver sqlite"),
    ({"database.yaml": "databases:\n  default: {driver: sqlite, path: a.db, host: h}\n"},
     "database.yaml: databases.default.host: is not used by driver sqlite"),
    ({"database.yaml": "databases:\n  default: {driver: mysql, host: h}\n"},
     "database.yaml: databases.default.dbname: is required with driver mysql"),
    ({"database.yaml": "databases:\n  default: {url: 'sqlite:///a.db', path: b.db}\n"},
     "database.yaml: databases.default.path: cannot be combined with url; "
     "give either url or the separate keys"),
    ({"database.yaml": "databases:\n  default: {url: 'http://example.com/db'}\n"},
     "database.yaml: databases.default.url: expected a URL starting with postgresql://, "
     "postgres://, mysql://, mariadb:// or sqlite://, got 'http://example.com/db'"),
    ({"database.yaml": "databases:\n  default: {url: 'postgresql://u:pw@h:99999/db'}\n"},
     "database.yaml: databases.default.url: expected a port from 1 to 65535 after the host"),
    ({"database.yaml": "databases:\n  default: {url: 'postgresql://h/'}\n"},
     "database.yaml: databases.default.url: names no database; add /dbname after the host"),
    ({"database.yaml": "databases:\n  default: {url: 'sqlite://host/a.db'}\n"},
     "database.yaml: databases.default.url: expected sqlite:///relative/path.db, "
     "sqlite:////absolute/path.db or sqlite:///:memory:"),
    ({"database.yaml": "databases:\n  default: {driver: postgres, dbname: d, port: 0}\n"},
     "database.yaml: databases.default.port: must be between 1 and 65535, got 0"),
    ({"database.yaml": "jobs_database: jobs\n"},
     "database.yaml: jobs_database: no database named 'jobs' under databases"),
    ({"database.yaml": "state_directory: var/jobu\n"},
     "database.yaml: state_directory: expected an absolute path, got 'var/jobu'"),
    ({"database.yaml": "databases: []\n"},
     "database.yaml: databases: expected a mapping, got a list"),
    ({"database.yaml": "databases:\n  'my db': {driver: sqlite, path: a.db}\n"},
     "database.yaml: databases['my db']: expected a name of letters, digits, '_' and '-', "
     "got 'my db'"),
])
def test_bad_input_is_named_by_file_and_key(tmp_path, files, expected):
    assert any(line.startswith(expected) for line in problems(tmp_path, files)), expected


def test_a_duplicate_key_is_refused_with_its_line(tmp_path):
    found = problems(tmp_path, {"worker.yaml": """\
        # pool
        pool_size: 4
        queues: [default]

        lease_seconds: 30


        pool_size: 8
        """})

    assert found == ["worker.yaml: line 8: duplicate key 'pool_size' (first at line 2)"]


def test_a_duplicate_nested_key_is_refused(tmp_path):
    found = problems(tmp_path, {"database.yaml": """\
        databases:
          default:
            driver: sqlite
            path: a.db
            path: b.db
        """})

    assert found == ["database.yaml: line 5: duplicate key 'path' (first at line 4)"]


def test_a_yaml_syntax_error_names_file_and_line(tmp_path):
    found = problems(tmp_path, {"queue.yaml": "enabled: false\nkafka:\n  group_id: [jobu\n"})

    assert len(found) == 1
    assert found[0].startswith("queue.yaml: line 4, column 1: not valid YAML: ")


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("just words\n",
                                                                          "'just words'")])
def test_the_top_level_must_be_a_mapping(tmp_path, text, kind):
    assert problems(tmp_path, {"admin.yaml": text}) == [
        f"admin.yaml: expected a mapping of keys to values at the top level, got {kind}"]


def test_an_unreadable_file_is_reported(tmp_path):
    (tmp_path / "worker.yaml").mkdir()

    assert problems(tmp_path, {}) == [
        f"worker.yaml: cannot read {tmp_path / 'worker.yaml'}: Is a directory"]


def test_every_problem_in_every_file_is_reported_at_once(tmp_path):
    found = problems(tmp_path, {
        "database.yaml": "databases:\n  default: {driver: sqlite, path: a.db, pool_size: 0}\n",
        "dispatcher.yaml": "timezone: Nowhere/Town\nprune_batch_size: many\n",
        "worker.yaml": "pool_size: 0\npool_sise: 3\ndatabases: [default, elsewhere]\n",
        "queue.yaml": "enabled: maybe\n",
        "admin.yaml": "bind: [\n",
    }, environ={"JOBU_STATE_DIR": "relative"})

    assert [line.split(":")[0] for line in found] == [
        "database.yaml", "dispatcher.yaml", "dispatcher.yaml", "worker.yaml", "worker.yaml",
        "worker.yaml", "queue.yaml", "admin.yaml", "environment"]
    assert "worker.yaml: databases[1]: no database named 'elsewhere' in database.yaml" in found
    assert "environment: JOBU_STATE_DIR: expected an absolute path, got 'relative'" in found


def test_a_broken_database_is_not_reported_again_where_it_is_used(tmp_path):
    found = problems(tmp_path, {
        "database.yaml": "jobs_database: main\ndatabases:\n  main: {driver: sqlite}\n",
        "worker.yaml": "databases: [main]\n",
    })

    assert found == ["database.yaml: databases.main.path: is required with driver sqlite"]


# --- database URLs -------------------------------------------------------------------------------


def test_postgres_url_with_percent_escaped_password_and_options():
    spec = parse_database_url("postgresql://jobu:p%40ss%2Fw%3Ard@db.example.com:6543/jobs"
                              "?sslmode=require&application_name=x", name="main")

    assert spec == DatabaseSpec(name="main", driver="postgres", host="db.example.com", port=6543,
                                user="jobu", password="p@ss/w:rd", dbname="jobs",
                                options={"sslmode": "require", "application_name": "x"})


@pytest.mark.parametrize(("url", "driver", "port"), [
    ("postgres://u@h/d", "postgres", 5432),
    ("mysql://u@h/d", "mysql", 3306),
    ("mariadb://u@h:3307/d", "mysql", 3307),
    ("PostgreSQL://u@h/d", "postgres", 5432),
])
def test_url_schemes_and_default_ports(url, driver, port):
    spec = parse_database_url(url)

    assert (spec.name, spec.driver, spec.port, spec.user, spec.password) == (
        "jobs", driver, port, "u", None)


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///jobu.db", "/srv/state/jobu.db"),
    ("sqlite:///sub/dir/jobu.db", "/srv/state/sub/dir/jobu.db"),
    ("sqlite:////abs/jobu.db", "/abs/jobu.db"),
    ("sqlite:///:memory:", ":memory:"),
])
def test_sqlite_urls(url, path):
    assert parse_database_url(url, state_dir="/srv/state").path == path


def test_a_relative_sqlite_url_stays_relative_without_a_state_dir():
    assert parse_database_url("sqlite:///jobu.db").path == "jobu.db"


def test_a_bad_url_raises_config_error_without_its_password():
    with pytest.raises(ConfigError) as caught:
        parse_database_url("postgresql://u:hunter2@h:0/d")

    assert "hunter2" not in str(caught.value)
    assert "postgresql://u:********@h:0/d" in str(caught.value)


# --- the environment -----------------------------------------------------------------------------


def test_jobu_database_url_replaces_the_jobs_database(tmp_path):
    config = load(tmp_path, {
        "database.yaml": "databases:\n  default: {driver: sqlite, path: a.db, pool_size: 9}\n"},
        environ={"JOBU_DATABASE_URL": "postgresql://jobu:pw@db:5432/jobs"})

    assert config.jobs_database == DatabaseSpec(name="default", driver="postgres", host="db",
                                                port=5432, user="jobu", password="pw",
                                                dbname="jobs", pool_size=9)
    assert config.databases["default"] == config.jobs_database


def test_jobu_database_url_may_name_a_database_the_file_lacks(tmp_path):
    config = load(tmp_path, {"database.yaml": "jobs_database: jobs\ndatabases: {}\n"},
                  environ={"JOBU_DATABASE_URL": "sqlite:///x.db"})

    assert config.jobs_database.path == "/var/lib/jobu/x.db"
    assert config.worker.databases == ("jobs",)


def test_a_bad_jobu_database_url_is_reported_as_the_environment(tmp_path):
    found = problems(tmp_path, {}, environ={"JOBU_DATABASE_URL": "oracle://u:pw@h/d"})

    assert found == ["environment: JOBU_DATABASE_URL: expected a URL starting with postgresql://, "
                     "postgres://, mysql://, mariadb:// or sqlite://, got 'oracle://u:********@h/d'"]


def test_jobu_state_dir_moves_relative_sqlite_paths(tmp_path):
    config = load(tmp_path, {"database.yaml": """\
        state_directory: /srv/ignored
        databases:
          default: {driver: sqlite, path: jobu.db}
          by_url: {url: "sqlite:///other.db"}
          absolute: {driver: sqlite, path: /data/abs.db}
        """}, environ={"JOBU_STATE_DIR": "/run/jobu-test"})

    assert config.state_dir == Path("/run/jobu-test")
    assert config.databases["default"].path == "/run/jobu-test/jobu.db"
    assert config.databases["by_url"].path == "/run/jobu-test/other.db"
    assert config.databases["absolute"].path == "/data/abs.db"


def test_state_directory_from_the_file(tmp_path):
    config = load(tmp_path, {"database.yaml": "state_directory: /srv/jobu\n"})

    assert config.state_dir == Path("/srv/jobu")
    assert config.jobs_database.path == "/srv/jobu/jobu.db"


# --- secrets -------------------------------------------------------------------------------------

POSTGRES_WITH = "databases:\n  default: {{driver: postgres, dbname: jobs, {secret}}}\n"


def test_password_file_is_read_relative_to_the_config_dir(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "db").write_text("s3cret \n", encoding="utf-8")

    config = load(tmp_path, {"database.yaml": POSTGRES_WITH.format(
        secret="password_file: secrets/db")})

    assert config.jobs_database.password == "s3cret "


def test_password_env_is_read(tmp_path):
    config = load(tmp_path, {"database.yaml": POSTGRES_WITH.format(secret="password_env: DB_PW")},
                  environ={"DB_PW": "from-env"})

    assert config.jobs_database.password == "from-env"


def test_an_inline_password(tmp_path):
    config = load(tmp_path, {"database.yaml": POSTGRES_WITH.format(secret="password: inline")})

    assert config.jobs_database.password == "inline"


def test_a_url_without_password_takes_one_from_password_file(tmp_path):
    (tmp_path / "pw").write_text("filed\n", encoding="utf-8")
    config = load(tmp_path, {"database.yaml": """\
        databases:
          default: {url: "mysql://jobu@db/jobs", password_file: pw}
        """})

    assert (config.jobs_database.user, config.jobs_database.password) == ("jobu", "filed")


@pytest.mark.parametrize(("secret", "environ", "expected"), [
    ("password_file: nofile", {}, "databases.default.password_file: cannot read "),
    ("password_env: DB_PW", {}, "databases.default.password_env: environment variable DB_PW is "
                                "not set"),
    ("password: a, password_env: DB_PW", {"DB_PW": "x"},
     "databases.default.password_env: cannot be combined with password; "
     "give the secret one way only"),
    ("password_file: pw, password_env: DB_PW", {"DB_PW": "x"},
     "databases.default.password_env: cannot be combined with password_file"),
    ("password_env: 'not a name'", {}, "databases.default.password_env: expected an environment "
                                       "variable name, got 'not a name'"),
])
def test_bad_secrets_are_refused(tmp_path, secret, environ, expected):
    found = problems(tmp_path, {"database.yaml": POSTGRES_WITH.format(secret=secret)}, environ)

    assert any(line.startswith(f"database.yaml: {expected}") for line in found), found


def test_an_empty_password_file_is_refused(tmp_path):
    (tmp_path / "pw").write_text("\n", encoding="utf-8")

    found = problems(tmp_path, {"database.yaml": POSTGRES_WITH.format(secret="password_file: pw")})

    assert found == [f"database.yaml: databases.default.password_file: {tmp_path / 'pw'} is empty"]


def test_a_url_password_and_a_password_key_are_refused(tmp_path):
    found = problems(tmp_path, {"database.yaml": """\
        databases:
          default: {url: "mysql://jobu:pw@db/jobs", password_env: DB_PW}
        """}, environ={"DB_PW": "x"})

    assert found == ["database.yaml: databases.default.url: has a password, and a password key "
                     "is set too; give the secret one way only"]


def test_admin_and_kafka_secrets(tmp_path):
    (tmp_path / "secret_key").write_text("k" * 40 + "\n", encoding="utf-8")
    config = load(tmp_path, {
        "admin.yaml": "secret_key_file: secret_key\n",
        "queue.yaml": "kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, "
                      "sasl_username: u, sasl_password: kp}\n",
    })

    assert config.admin.secret_key == "k" * 40
    assert config.queue.kafka.sasl_password == "kp"
    assert "kp" not in repr(config.queue.kafka)
    assert "kkkk" not in repr(config.admin)


def test_unset_kafka_and_admin_secret_env_vars_are_reported(tmp_path):
    found = problems(tmp_path, {
        "admin.yaml": "secret_key_env: ADMIN_KEY\n",
        "queue.yaml": "kafka: {security_protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-256, "
                      "sasl_username: u, sasl_password_env: KAFKA_PW}\n",
    })

    assert found == [
        "queue.yaml: kafka.sasl_password_env: environment variable KAFKA_PW is not set",
        "admin.yaml: secret_key_env: environment variable ADMIN_KEY is not set",
    ]


def test_secrets_are_read_only_for_the_files_asked(tmp_path):
    files = {"admin.yaml": "secret_key_env: ADMIN_KEY\n",
             "queue.yaml": "kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN, "
                           "sasl_username: u, sasl_password_env: KAFKA_PW}\n"}
    write(tmp_path, files)

    neither = load_config(tmp_path, environ={}, secrets_of=())
    queue_only = load_config(tmp_path, environ={"KAFKA_PW": "pw"}, secrets_of=("queue.yaml",))
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path, environ={"KAFKA_PW": "pw"}, secrets_of=("admin.yaml",))

    assert (neither.queue.kafka.sasl_password, neither.admin.secret_key) == (None, None)
    assert (queue_only.queue.kafka.sasl_password, queue_only.admin.secret_key) == ("pw", None)
    assert refused.value.problems == [
        "admin.yaml: secret_key_env: environment variable ADMIN_KEY is not set"]


# --- describe_config -----------------------------------------------------------------------------


def test_describe_config_is_json_and_masks_every_secret(tmp_path):
    config = load(tmp_path, {
        "database.yaml": """\
            databases:
              default: {driver: sqlite, path: a.db}
              pg:
                url: "postgresql://jobu:dbsecret1@db/jobs?sslpassword=dbsecret2"
                options: {fallback: "mysql://x:dbsecret3@h/d"}
            """,
        "queue.yaml": "kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN, "
                      "sasl_username: u, sasl_password: kafkasecret}\n",
        "admin.yaml": "secret_key: adminsecret\n",
    })

    described = describe_config(config)
    text = json.dumps(described)

    for secret in ("dbsecret1", "dbsecret2", "dbsecret3", "kafkasecret", "adminsecret"):
        assert secret not in text
    assert described["databases"]["pg"]["password"] == MASK
    assert described["databases"]["pg"]["options"] == {
        "sslpassword": MASK, "fallback": f"mysql://x:{MASK}@h/d"}
    assert described["queue"]["kafka"]["sasl_password"] == MASK
    assert described["admin"]["secret_key"] == MASK
    assert described["databases"]["default"]["password"] is None
    assert described["dispatcher"]["retention_days"]["SUCCESS"] == 30
    assert described["config_dir"] == str(tmp_path)


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql://u:p@h/d", f"postgresql://u:{MASK}@h/d"),
    ("postgresql://u:p@ss@h:5/d?x=1", f"postgresql://u:{MASK}@h:5/d?x=1"),
    ("postgresql://u@h/d", "postgresql://u@h/d"),
    ("sqlite:///a.db", "sqlite:///a.db"),
    ("not a url", "not a url"),
])
def test_mask_url_password(url, masked):
    assert mask_url_password(url) == masked


@pytest.mark.parametrize(("files", "expected"), [
    ({"database.yaml": "databases:\n  default: {driver: oracle, path: a.db}\n"},
     ["database.yaml: databases.default.driver: expected one of 'sqlite', 'postgres', 'mysql', "
      "got 'oracle'"]),
    ({"database.yaml": "databases:\n  default: {driver: sqlite, path: 5}\n"},
     ["database.yaml: databases.default.path: expected a string, got 5"]),
    ({"queue.yaml": "kafka: {security_protocol: SASL_SSL, sasl_mechanism: ROT13}\n"},
     ["queue.yaml: kafka.sasl_mechanism: expected one of 'PLAIN', 'SCRAM-SHA-256', "
      "'SCRAM-SHA-512', 'GSSAPI', 'OAUTHBEARER', got 'ROT13'"]),
    ({"queue.yaml": "enabled: true\nkafka: {bootstrap_servers: [nowhere]}\ntopics: {t: {}}\n"},
     ["queue.yaml: kafka.bootstrap_servers[0]: expected host:port with a port from 1 to 65535, "
      "got 'nowhere'", "queue.yaml: topics.t.handler: is required (or allowed_handlers, "
      "the handlers a message may name)"]),
])
def test_an_invalid_key_is_not_reported_again_as_missing(tmp_path, files, expected):
    assert problems(tmp_path, files) == expected
