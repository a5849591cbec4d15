"""The shape of jobu's configuration: a frozen dataclass and a marshmallow schema per file.

The dataclasses are what the rest of jobu receives, and they hold the defaults: the schemas
read their `load_default` values from them, so each default is written once. The schemas check
what an operator wrote (types, ranges, unknown keys, rules between the keys of one file), and
`validate` turns marshmallow's nested errors into ``(key path, message)`` pairs that name the
key and what was expected. Reading files, secrets and the environment is `jobu.config`'s job.

Written for marshmallow 3.18 (Debian 12) and 4.x alike: `load_default`, validators as plain
callables, ``@validates_schema`` methods taking ``**kwargs``, and field classes that override
only ``_deserialize``, whose signature both versions share.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import math
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing, validates_schema

from jobu.model import NAME_PATTERN, NAME_RULE, Status

# --- the dataclasses -----------------------------------------------------------------------------

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_LOG_FORMAT = "text"
FINAL_STATUSES = tuple(status for status in Status if status.is_final)
DEFAULT_RETENTION_DAYS: Mapping[Status, int] = {
    status: 30 if status is Status.SUCCESS else 90 for status in FINAL_STATUSES
}
DEFAULT_STATE_DIRECTORY = "/var/lib/jobu"
DEFAULT_JOBS_DATABASE = "default"
DEFAULT_DATABASES = {DEFAULT_JOBS_DATABASE: {"driver": "sqlite", "path": "jobu.db"}}


@dataclass(frozen=True)
class DispatcherConfig:
    """dispatcher.yaml: how crons become executions, and how long history is kept."""

    timezone: str = "UTC"
    min_cron_interval_seconds: int = 60
    poll_interval_seconds: float = 5.0
    max_sleep_seconds: float = 60.0
    maintenance_interval_seconds: float = 30.0
    prune_batch_size: int = 1000
    #: Days a finished execution is kept, for each final status; 0 keeps it for ever.
    retention_days: Mapping[Status, int] = field(
        default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))
    #: Days a row of jobu-admin's audit log is kept; 0 keeps it for ever.
    audit_retention_days: int = 365
    #: host:port where the daemon serves jobu's Prometheus metrics; None: nowhere.
    metrics_bind: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL
    log_format: str = DEFAULT_LOG_FORMAT


@dataclass(frozen=True)
class WorkerConfig:
    """worker.yaml: the thread pool that claims and runs executions."""

    pool_size: int = 4
    #: How many executions one claim may take; 0 or None (the default) means pool_size.
    claim_batch_size: int = 0
    queues: tuple[str, ...] = ("default",)
    #: None: 1 s where the database wakes the worker (PostgreSQL's LISTEN, SQLite's file
    #: watch), POLL_WITHOUT_WAKEUPS_SECONDS where it cannot (MySQL/MariaDB).
    poll_interval_seconds: float | None = None
    lease_seconds: float = 30.0
    heartbeat_interval_seconds: float = 10.0
    shutdown_timeout_seconds: float = 30.0
    retry_backoff_max_seconds: float = 3600.0
    #: None: an execution that names no timeout of its own may run for ever.
    default_timeout_seconds: float | None = None
    #: A handler's result longer than this as JSON ends its execution FAILED (None: no limit).
    max_result_bytes: int | None = 1024 * 1024
    #: Absolute directories (load_config resolves relative ones against the config directory).
    handler_paths: tuple[str, ...] = ()
    handler_modules: tuple[str, ...] = ()
    #: The databases of database.yaml that handlers may use; load_config lists every one
    #: when worker.yaml does not say.
    databases: tuple[str, ...] = ()
    #: host:port where the daemon serves jobu's Prometheus metrics; None: nowhere.
    metrics_bind: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL
    log_format: str = DEFAULT_LOG_FORMAT

    def __post_init__(self) -> None:
        if not self.claim_batch_size:
            object.__setattr__(self, "claim_batch_size", self.pool_size)


@dataclass(frozen=True)
class KafkaConfig:
    """queue.yaml `kafka:`: how jobu-queued reaches the brokers (secret resolved)."""

    bootstrap_servers: tuple[str, ...] = ()
    group_id: str = "jobu"
    client_id: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    #: With SSL and SASL_SSL: the CA certificates that sign the brokers' (None: the system's).
    ssl_cafile: str | None = None


@dataclass(frozen=True)
class TopicConfig:
    """queue.yaml `topics.<topic>`: the execution a message of one topic becomes."""

    #: The handler of a message that names none; None: every message must name one.
    handler: str | None = None
    #: The handlers a message may name; empty means only `handler`.
    allowed_handlers: tuple[str, ...] = ()
    priority: int = 0
    queue: str = "default"
    max_retry: int = 0
    timeout_seconds: float | None = None
    isolation: str = "thread"

    def allows(self, handler_name: str) -> bool:
        """May a message of this topic run `handler_name`?"""
        return handler_name == self.handler or handler_name in self.allowed_handlers


@dataclass(frozen=True)
class QueueConfig:
    """queue.yaml: Kafka intake by jobu-queued."""

    enabled: bool = False
    kafka: KafkaConfig = KafkaConfig()
    topics: Mapping[str, TopicConfig] = field(default_factory=dict)
    poll_timeout_ms: int = 1000
    max_batch: int = 500
    #: A partition's lease in the jobs database: a process that stops renewing it (dead,
    #: paused, cut off) loses the partition to another after this long.
    lease_seconds: float = 15.0
    #: A message larger than this becomes a dead letter.
    max_message_bytes: int = 1_000_000
    #: Where a partition with no stored position starts: earliest or latest.
    start_from: str = "earliest"
    #: host:port where the daemon serves jobu's Prometheus metrics; None: nowhere.
    metrics_bind: str | None = None
    log_level: str = DEFAULT_LOG_LEVEL
    log_format: str = DEFAULT_LOG_FORMAT


@dataclass(frozen=True)
class AdminConfig:
    """admin.yaml: the web admin (secret resolved)."""

    bind: str = "127.0.0.1:8080"
    secret_key: str | None = field(default=None, repr=False)
    page_size: int = 50
    read_only: bool = False
    #: gunicorn: worker processes, threads per process, and the seconds a request (timeout)
    #: and a stop (graceful_timeout) may take before the worker is killed.
    workers: int = 2
    threads: int = 4
    timeout_seconds: float = 30.0
    graceful_timeout_seconds: float = 30.0
    #: /metrics open to everyone (true), or like every page to signed-in users and API tokens.
    metrics_public: bool = False
    log_level: str = DEFAULT_LOG_LEVEL
    log_format: str = DEFAULT_LOG_FORMAT
    #: Sign-in is refused (429) after this many failures for one user name, or from one
    #: client address, within login_window_seconds.
    login_attempts: int = 5
    login_window_seconds: float = 600.0
    #: The session cookie's Secure flag: "auto" (when the request came over HTTPS), "true"
    #: or "false".
    secure_cookies: str = "auto"
    #: Trust X-Forwarded-Proto/For/Host from one reverse proxy in front of the admin.
    proxy_headers: bool = False


def default_of(cls: type, name: str) -> Any:
    """The default of dataclass field `name`, in the form marshmallow's `load_default` takes."""
    spec = cls.__dataclass_fields__[name]
    return spec.default if spec.default is not dataclasses.MISSING else spec.default_factory


# --- field types: one YAML type each, and a message that says which ------------------------------


def show(value: Any) -> str:
    """A value as a message quotes it back: YAML spelling for scalars, the kind for the rest."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str | int | float):
        return repr(value)
    return repr(str(value))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """"; did you mean 'x'?" naming the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class TypedField(fields.Field):
    """A field that takes one YAML type and, given another, says what it expected and got."""

    expected = "a value"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error_messages["null"] = f"expected {self.expected}, got null"
        self.error_messages["required"] = "is required"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not self.accepts(value):
            raise ValidationError(f"expected {self.expected}, got {show(value)}")
        return self.convert(value)

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        return value


class IntegerField(TypedField):
    """A whole number. YAML's true and false are refused, although Python counts them as ints."""

    expected = "an integer"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)


class FloatField(TypedField):
    """A finite number, whole or not, stored as a float."""

    expected = "a number"

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))

    def convert(self, value: float) -> float:
        return float(value)


class TextField(TypedField):
    """A string that is not blank."""

    expected = "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def convert(self, value: str) -> str:
        if not value.strip():
            raise ValidationError("must not be empty")
        return value


class BooleanField(TypedField):
    """true or false (YAML reads yes/no and on/off as these too)."""

    expected = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class ScalarField(TypedField):
    """A string, number or boolean: a driver option, passed on as it is."""

    expected = "a string, number or boolean"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str | int | float)


class ChoiceField(TypedField):
    """One of a few words, matched regardless of case and returned in its canonical spelling."""

    def __init__(self, choices: tuple[str, ...], aliases: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        self.canonical = {choice.casefold(): choice for choice in choices}
        self.canonical.update({alias.casefold(): target
                               for alias, target in (aliases or {}).items()})
        self.expected = "one of " + ", ".join(repr(choice) for choice in choices)
        super().__init__(**kwargs)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value.casefold() in self.canonical

    def convert(self, value: str) -> str:
        return self.canonical[value.casefold()]


class SwitchField(ChoiceField):
    """true, false or another word of `choices` ("auto"), returned as the word: YAML reads an
    unquoted true or false as a boolean, which is taken as the word it spells."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool) or super().accepts(value)

    def convert(self, value: Any) -> str:
        if isinstance(value, bool):
            value = "true" if value else "false"
        return super().convert(value)


class StatusField(TypedField):
    """A final execution status, in any case, returned as a Status."""

    expected = "a final status (" + ", ".join(status.value for status in FINAL_STATUSES) + ")"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def convert(self, value: str) -> Status:
        names = [status.value for status in FINAL_STATUSES]
        if value.upper() not in names:
            raise ValidationError(f"expected {self.expected}, got {show(value)}"
                                  + did_you_mean(value.upper(), names))
        return Status(value.upper())


class ListField(fields.List):
    """A YAML list, returned as a tuple; a lone scalar is refused rather than wrapped."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ValidationError(f"expected a list, got {show(value)}")
        return tuple(super()._deserialize(value, attr, data, **kwargs))


class MappingField(fields.Dict):
    """A YAML mapping whose keys and values are checked by fields of their own.

    Unlike marshmallow's Dict, the valid entries survive when others are not, so the loader can
    go on checking them (secrets, URLs, names used by other files) and report every problem in
    one go. Errors keep Dict's shape: ``{key: {"key": [...]}}`` or ``{key: {"value": ...}}``.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {show(value)}")
        result: dict[Any, Any] = {}
        errors: dict[Any, Any] = {}
        for raw_key, raw_value in value.items():
            try:
                key = self.key_field.deserialize(raw_key, **kwargs)
            except ValidationError as error:
                errors[raw_key] = {"key": error.messages}
                continue
            try:
                result[key] = self.value_field.deserialize(raw_value, **kwargs)
            except ValidationError as error:
                errors[raw_key] = {"value": error.messages}
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result


class SectionField(fields.Nested):
    """A nested mapping checked by a schema of its own."""

    def __init__(self, nested: Any, **kwargs: Any) -> None:
        super().__init__(nested, **kwargs)
        self.error_messages["null"] = "expected a mapping, got null"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping, got {show(value)}")
        return super()._deserialize(value, attr, data, **kwargs)


# --- validators ----------------------------------------------------------------------------------

Validator = Callable[[Any], None]


def between(low: float, high: float) -> Validator:
    def check(value: float) -> None:
        if not low <= value <= high:
            raise ValidationError(f"must be between {low} and {high}, got {show(value)}")
    return check


def at_least(low: float) -> Validator:
    def check(value: float) -> None:
        if value < low:
            raise ValidationError(f"must be at least {low}, got {show(value)}")
    return check


def above(low: float) -> Validator:
    def check(value: float) -> None:
        if value <= low:
            raise ValidationError(f"must be greater than {low}, got {show(value)}")
    return check


def matches(pattern: str, expected: str) -> Validator:
    compiled = re.compile(pattern)

    def check(value: str) -> None:
        if not compiled.fullmatch(value):
            raise ValidationError(f"expected {expected}, got {show(value)}")
    return check


name_like = matches(r"[A-Za-z0-9_][A-Za-z0-9_-]*", "a name of letters, digits, '_' and '-'")
#: A cron, handler or queue name, in the one grammar every front end checks.
job_name = matches(NAME_PATTERN.pattern, NAME_RULE)
env_var_name = matches(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")
module_name = matches(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", "a dotted module name")
kafka_topic = matches(r"[A-Za-z0-9._-]{1,249}", "a Kafka topic name")


def no_duplicates(values: tuple[Any, ...]) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
    if repeated:
        raise ValidationError("lists " + ", ".join(show(value) for value in repeated) + " twice")


def not_empty(values: tuple[Any, ...]) -> None:
    if not values:
        raise ValidationError("must list at least one item")


def absolute_path(value: str) -> None:
    if not value.startswith("/"):
        raise ValidationError(f"expected an absolute path, got {show(value)}")


def iana_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(value, zoneinfo.available_timezones())
        raise ValidationError(f"expected an IANA time zone such as 'Europe/Paris' or 'UTC', "
                              f"got {show(value)}{hint}") from None


def host_and_port(value: str) -> None:
    host, colon, port = value.rpartition(":")
    if not (colon and host.strip("[]") and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValidationError(f"expected host:port with a port from 1 to 65535, got {show(value)}")


def bind_address(value: str) -> None:
    if value.startswith("unix:"):
        absolute_path(value[len("unix:"):])
    else:
        host_and_port(value)


# --- rules between the keys of one mapping -------------------------------------------------------

#: Error messages by key, as marshmallow takes them ("_schema": the mapping as a whole).
Problems = dict[str, Any]


def raise_if_any(problems: Problems) -> None:
    if problems:
        raise ValidationError(dict(problems))


def secret_source_problems(data: Mapping[str, Any], key: str) -> Problems:
    """Refuses more than one of `key`, `key`_file and `key`_env: which one wins would be a guess."""
    given = [name for name in (key, f"{key}_file", f"{key}_env") if data.get(name) is not None]
    return {name: [f"cannot be combined with {given[0]}; give the secret one way only"]
            for name in given[1:]}


CONNECTION_KEYS = ("driver", "host", "port", "user", "dbname", "path")
SERVER_ONLY_KEYS = ("host", "port", "user", "dbname", "password", "password_file", "password_env")
SQLITE_ONLY_KEYS = ("path", "busy_timeout_seconds")


def connection_problems(data: Mapping[str, Any], written: Mapping[str, Any]) -> Problems:
    """What is wrong with how one database entry says where its database is.

    `written` is the entry as written: a key that is there but missing from the loaded `data`
    was invalid, is reported already, and so is neither "missing" nor a driver to check against.
    """
    if "url" in written:
        return {key: ["cannot be combined with url; give either url or the separate keys"]
                for key in CONNECTION_KEYS if key in written}
    if "driver" not in written:
        return {"_schema": ["needs either url or driver"]}
    driver = data.get("driver")
    if driver == "sqlite":
        problems = {key: ["is not used by driver sqlite"]
                    for key in SERVER_ONLY_KEYS if key in written}
        required = "path"
    elif driver is not None:
        problems = {key: [f"is used by driver sqlite only, not by {driver}"]
                    for key in SQLITE_ONLY_KEYS if key in written}
        required = "dbname"
    else:
        return {}
    if required not in written:
        problems[required] = [f"is required with driver {driver}"]
    return problems


SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def sasl_problems(data: Mapping[str, Any], written: Mapping[str, Any]) -> Problems:
    """SASL settings must match the security protocol, and password mechanisms need both parts.
    (`written` as for connection_problems.)"""
    protocol, mechanism = data.get("security_protocol"), data.get("sasl_mechanism")
    if protocol is None or (mechanism is None and written.get("sasl_mechanism") is not None):
        return {}
    if protocol in SASL_PROTOCOLS and mechanism is None:
        return {"sasl_mechanism": [f"is required with security_protocol {protocol}"]}
    if protocol not in SASL_PROTOCOLS and mechanism is not None:
        return {"sasl_mechanism": [f"is used with security_protocol {' or '.join(SASL_PROTOCOLS)}"
                                   f" only, not {protocol}"]}
    if mechanism not in PASSWORD_MECHANISMS:
        return {}
    needed = {"sasl_username": ("sasl_username",),
              "sasl_password": ("sasl_password", "sasl_password_file", "sasl_password_env")}
    return {key: [f"is required with sasl_mechanism {mechanism}"]
            for key, sources in needed.items()
            if all(written.get(source) is None for source in sources)}


# --- the schemas ---------------------------------------------------------------------------------


def defaults_from(config_class: type) -> Callable[[type[Schema]], type[Schema]]:
    """Class decorator: an absent key loads the default of the dataclass field of its name
    (fields that name their own `load_default` keep it)."""
    def decorate(schema_class: type[Schema]) -> type[Schema]:
        for name, spec in schema_class._declared_fields.items():
            if name in config_class.__dataclass_fields__ and spec.load_default is missing:
                spec.load_default = default_of(config_class, name)
        return schema_class
    return decorate


#: marshmallow before 3.26 (Debian 12 has 3.18) reports problems in declaration order only
#: with the `ordered` option; 3.26 deprecates the option (and warns), and 4 always keeps order.
_ORDERED_OPTION = tuple(int(part) for part in
                        importlib.metadata.version("marshmallow").split(".")[:2]) < (3, 26)


class StrictSchema(Schema):
    """Base of every config schema: an unknown key is an error (marshmallow's default, stated),
    and problems are reported in the order the keys are declared."""

    class Meta:
        unknown = RAISE
        if _ORDERED_OPTION:
            ordered = True


class DaemonSchema(StrictSchema):
    """The keys every daemon's file has: how its log lines look."""

    log_level = ChoiceField(LOG_LEVELS, load_default=DEFAULT_LOG_LEVEL)
    log_format = ChoiceField(LOG_FORMATS, load_default=DEFAULT_LOG_FORMAT)


class DatabaseSchema(StrictSchema):
    """One entry of database.yaml `databases:`. Only the keys written are loaded (the defaults
    are jobu.model.DatabaseSpec's), because the rules depend on which keys were written."""

    url = TextField()
    driver = ChoiceField(("sqlite", "postgres", "mysql"),
                         aliases={"postgresql": "postgres", "mariadb": "mysql"})
    host = TextField()
    port = IntegerField(validate=between(1, 65535))
    user = TextField()
    password = TextField(allow_none=True)
    password_file = TextField(allow_none=True)
    password_env = TextField(allow_none=True, validate=env_var_name)
    dbname = TextField()
    path = TextField()
    pool_size = IntegerField(validate=between(1, 1000))
    pool_timeout_seconds = FloatField(validate=above(0))
    connect_timeout_seconds = FloatField(validate=above(0))
    busy_timeout_seconds = FloatField(validate=at_least(0))
    options = MappingField(keys=TextField(), values=ScalarField())

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def check_connection(self, data: dict[str, Any], written: Mapping[str, Any],
                         **kwargs: Any) -> None:
        raise_if_any(connection_problems(data, written))

    @validates_schema(skip_on_field_errors=False)
    def check_secret_sources(self, data: dict[str, Any], **kwargs: Any) -> None:
        raise_if_any(secret_source_problems(data, "password"))


class DatabaseFileSchema(StrictSchema):
    """database.yaml."""

    state_directory = TextField(load_default=DEFAULT_STATE_DIRECTORY, validate=absolute_path)
    jobs_database = TextField(load_default=DEFAULT_JOBS_DATABASE, validate=name_like)
    databases = MappingField(keys=TextField(validate=name_like),
                             values=SectionField(DatabaseSchema),
                             load_default=lambda: dict(DEFAULT_DATABASES))
    allow_best_effort_multi_commit = BooleanField(load_default=False)


@defaults_from(DispatcherConfig)
class DispatcherSchema(DaemonSchema):
    """dispatcher.yaml."""

    timezone = TextField(validate=iana_timezone)
    min_cron_interval_seconds = IntegerField(validate=at_least(1))
    poll_interval_seconds = FloatField(validate=above(0))
    max_sleep_seconds = FloatField(validate=above(0))
    maintenance_interval_seconds = FloatField(validate=above(0))
    prune_batch_size = IntegerField(validate=between(1, 1_000_000))
    # Only what the file says: load_config lays it over DEFAULT_RETENTION_DAYS.
    retention_days = MappingField(keys=StatusField(), values=IntegerField(validate=at_least(0)),
                                  load_default=dict)
    audit_retention_days = IntegerField(validate=at_least(0))
    metrics_bind = TextField(allow_none=True, validate=host_and_port)

    @validates_schema(skip_on_field_errors=False)
    def check_sleep(self, data: dict[str, Any], **kwargs: Any) -> None:
        require_order("poll_interval_seconds", "max_sleep_seconds", data, strictly=False)


@defaults_from(WorkerConfig)
class WorkerSchema(DaemonSchema):
    """worker.yaml."""

    pool_size = IntegerField(validate=between(1, 1024))
    claim_batch_size = IntegerField(allow_none=True, validate=between(1, 1024))
    queues = ListField(TextField(validate=job_name), validate=[not_empty, no_duplicates])
    poll_interval_seconds = FloatField(allow_none=True, validate=above(0))
    lease_seconds = FloatField(validate=at_least(5))
    heartbeat_interval_seconds = FloatField(validate=above(0))
    shutdown_timeout_seconds = FloatField(validate=at_least(0))
    # Obsolete (OBSOLETE_KEYS): still read, so that a worker.yaml of an earlier release loads.
    retry_backoff_seconds = FloatField(validate=at_least(0))
    retry_backoff_max_seconds = FloatField(validate=at_least(0))
    default_timeout_seconds = FloatField(allow_none=True, validate=above(0))
    max_result_bytes = IntegerField(allow_none=True, validate=between(1, 1024 ** 3))
    handler_paths = ListField(TextField(), validate=no_duplicates)
    handler_modules = ListField(TextField(validate=module_name), validate=no_duplicates)
    # None, not the dataclass's (): "not said", which load_config reads as every database.
    databases = ListField(TextField(validate=name_like), allow_none=True, load_default=None,
                          validate=no_duplicates)
    metrics_bind = TextField(allow_none=True, validate=host_and_port)

    @validates_schema(skip_on_field_errors=False)
    def check_heartbeat(self, data: dict[str, Any], **kwargs: Any) -> None:
        require_order("heartbeat_interval_seconds", "lease_seconds", data, strictly=True)

    @validates_schema(skip_on_field_errors=False)
    def check_claim_batch(self, data: dict[str, Any], **kwargs: Any) -> None:
        require_order("claim_batch_size", "pool_size", data, strictly=False)


def require_order(small: str, large: str, data: Mapping[str, Any], *, strictly: bool) -> None:
    """Refuses `small` above `large` (or equal to it, when `strictly`). A key that is unset,
    null or invalid makes no rule: its own problem is reported already."""
    low, high = data.get(small), data.get(large)
    if low is None or high is None or low < high or (low == high and not strictly):
        return
    relation = "less than" if strictly else "at most"
    raise ValidationError(f"must be {relation} {large} ({high:g}), got {low:g}", small)


@defaults_from(KafkaConfig)
class KafkaSchema(StrictSchema):
    """queue.yaml `kafka:`."""

    bootstrap_servers = ListField(TextField(validate=host_and_port), validate=no_duplicates)
    group_id = TextField()
    client_id = TextField(allow_none=True)
    security_protocol = ChoiceField(("PLAINTEXT", "SSL", *SASL_PROTOCOLS))
    sasl_mechanism = ChoiceField((*PASSWORD_MECHANISMS, "GSSAPI", "OAUTHBEARER"), allow_none=True)
    sasl_username = TextField(allow_none=True)
    sasl_password = TextField(allow_none=True)
    sasl_password_file = TextField(allow_none=True)
    sasl_password_env = TextField(allow_none=True, validate=env_var_name)
    ssl_cafile = TextField(allow_none=True)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def check_sasl(self, data: dict[str, Any], written: Mapping[str, Any], **kwargs: Any) -> None:
        raise_if_any(sasl_problems(data, written))

    @validates_schema(skip_on_field_errors=False)
    def check_secret_sources(self, data: dict[str, Any], **kwargs: Any) -> None:
        raise_if_any(secret_source_problems(data, "sasl_password"))


@defaults_from(TopicConfig)
class TopicSchema(StrictSchema):
    """queue.yaml `topics.<topic>`."""

    handler = TextField(allow_none=True, validate=job_name)
    allowed_handlers = ListField(TextField(validate=job_name), validate=no_duplicates)
    priority = IntegerField()
    queue = TextField(validate=job_name)
    max_retry = IntegerField(validate=between(0, 1000))
    timeout_seconds = FloatField(allow_none=True, validate=above(0))
    isolation = ChoiceField(("thread", "process"))

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def check_handlers(self, data: dict[str, Any], written: Mapping[str, Any],
                       **kwargs: Any) -> None:
        # `written`, not `data`: a handler that is there but invalid is reported as such.
        if written.get("handler") is None and data.get("allowed_handlers") == ():
            raise ValidationError("is required (or allowed_handlers, the handlers a message "
                                  "may name)", "handler")


@defaults_from(QueueConfig)
class QueueSchema(DaemonSchema):
    """queue.yaml."""

    enabled = BooleanField()
    # An absent section is {}, so KafkaConfig's defaults apply.
    kafka = SectionField(KafkaSchema, load_default=dict)
    topics = MappingField(keys=TextField(validate=kafka_topic), values=SectionField(TopicSchema))
    poll_timeout_ms = IntegerField(validate=between(1, 300_000))
    max_batch = IntegerField(validate=between(1, 100_000))
    lease_seconds = FloatField(validate=between(2, 3600))
    max_message_bytes = IntegerField(validate=between(1, 100_000_000))
    start_from = ChoiceField(("earliest", "latest"))
    metrics_bind = TextField(allow_none=True, validate=host_and_port)

    @validates_schema(skip_on_field_errors=False)
    def check_enabled(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("enabled"):
            return
        problems: Problems = {}
        # {} or () is what was written or defaulted; a key that is absent was invalid and
        # has been reported already.
        kafka = data.get("kafka")
        if kafka == {} or (kafka and kafka.get("bootstrap_servers") == ()):
            problems["kafka"] = {"bootstrap_servers": ["is required when enabled is true"]}
        if data.get("topics") == {}:
            problems["topics"] = ["needs at least one topic when enabled is true"]
        raise_if_any(problems)


@defaults_from(AdminConfig)
class AdminSchema(DaemonSchema):
    """admin.yaml."""

    bind = TextField(validate=bind_address)
    secret_key = TextField(allow_none=True)
    secret_key_file = TextField(allow_none=True)
    secret_key_env = TextField(allow_none=True, validate=env_var_name)
    page_size = IntegerField(validate=between(1, 1000))
    read_only = BooleanField()
    workers = IntegerField(validate=between(1, 64))
    threads = IntegerField(validate=between(1, 256))
    timeout_seconds = FloatField(validate=above(0))
    graceful_timeout_seconds = FloatField(validate=at_least(0))
    metrics_public = BooleanField()
    login_attempts = IntegerField(validate=between(1, 1000))
    login_window_seconds = FloatField(validate=between(1, 86400))
    secure_cookies = SwitchField(("auto", "true", "false"))
    proxy_headers = BooleanField()

    @validates_schema(skip_on_field_errors=False)
    def check_secret_sources(self, data: dict[str, Any], **kwargs: Any) -> None:
        raise_if_any(secret_source_problems(data, "secret_key"))


#: Each config file and the schema that checks it, in the order they are reported.
FILE_SCHEMAS: Mapping[str, type[Schema]] = {
    "database.yaml": DatabaseFileSchema,
    "dispatcher.yaml": DispatcherSchema,
    "worker.yaml": WorkerSchema,
    "queue.yaml": QueueSchema,
    "admin.yaml": AdminSchema,
}

#: Keys an earlier release read and this one does not: a file that still sets one loads, and
#: the key is reported (jobu.config, Config.notices) with why and what to do instead.
OBSOLETE_KEYS: Mapping[str, Mapping[str, str]] = {
    "worker.yaml": {
        "retry_backoff_seconds": "no longer read: every execution carries its own backoff "
                                 "(a cron's retry_backoff_seconds, `jobu enqueue "
                                 "--retry-backoff`, Client.enqueue(retry_backoff_seconds=)); "
                                 "remove the key",
    },
}


# --- from marshmallow's errors to one line per problem -------------------------------------------

KeyPath = tuple[Any, ...]


def validate(schema: Schema, document: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                    list[tuple[str, str]]]:
    """Loads `document`; returns what is valid of it and ``(key path, message)`` per problem."""
    try:
        return schema.load(document), []
    except ValidationError as error:
        problems = [(render_path(path), message)
                    for path, message in flatten_errors(schema, error.messages, ())]
        valid = error.valid_data if isinstance(error.valid_data, dict) else {}
        return valid, problems


def flatten_errors(node: Schema | fields.Field, messages: Any,
                   path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Walks marshmallow's error tree beside the schema that made it, so each message gets the
    key path it belongs to and an unknown key can be told from a known one."""
    if isinstance(messages, str):
        yield path, messages
    elif isinstance(messages, list):
        for message in messages:
            yield from flatten_errors(node, message, path)
    elif "_schema" in messages and not isinstance(node, Schema):
        # marshmallow files a field's own errors here when its items have errors too
        yield from flatten_errors(node, messages["_schema"], path)
        rest = {key: nested for key, nested in messages.items() if key != "_schema"}
        yield from flatten_errors(node, rest, path)
    elif isinstance(node, Schema):
        yield from flatten_schema_errors(node, messages, path)
    elif isinstance(node, fields.Nested):
        yield from flatten_errors(node.schema, messages, path)
    elif isinstance(node, fields.Dict):
        for key, parts in messages.items():
            for part, nested in parts.items():
                inner = node.value_field if part == "value" else node.key_field
                yield from flatten_errors(inner, nested, (*path, key))
    elif isinstance(node, fields.List):
        for index, nested in messages.items():
            yield from flatten_errors(node.inner, nested, (*path, index))
    else:
        for key, nested in messages.items():
            yield from flatten_errors(node, nested, (*path, key))


def flatten_schema_errors(schema: Schema, messages: Mapping[Any, Any],
                          path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    known = {spec.data_key or name: spec for name, spec in schema.fields.items()}
    for key, nested in messages.items():
        if key == "_schema":
            yield from flatten_errors(schema, nested, path)
        elif key in known:
            yield from flatten_errors(known[key], nested, (*path, key))
        else:
            yield (*path, key), "unknown key" + did_you_mean(str(key), known)


def render_path(path: KeyPath) -> str:
    """('databases', 'main', 'port') -> databases.main.port; list indexes as [0]; a key that is
    not a plain word is quoted, so a topic named 'a.b' cannot pass for two keys."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{str(part)!r}]"
    return text
