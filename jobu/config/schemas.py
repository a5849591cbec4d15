"""A marshmallow schema per configuration file: what an operator may write (types, ranges,
unknown keys, the rules between the keys of one file), each default read from the dataclass of
jobu.config.settings. Reading the files, the secrets and the environment is
jobu.config.loader's job.

Written for marshmallow 3.18 (Debian 12) and 4.x alike: `load_default`, validators as plain
callables, ``@validates_schema`` methods taking ``**kwargs``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, missing, validates_schema

from jobu.config.fields import (
    BooleanField,
    ChoiceField,
    FloatField,
    IntegerField,
    ListField,
    MappingField,
    ScalarField,
    SectionField,
    StatusField,
    SwitchField,
    TextField,
)
from jobu.config.rules import (
    PASSWORD_MECHANISMS,
    SASL_PROTOCOLS,
    Problems,
    connection_problems,
    raise_if_any,
    require_order,
    sasl_problems,
    secret_source_problems,
)
from jobu.config.settings import (
    DEFAULT_DATABASES,
    DEFAULT_JOBS_DATABASE,
    DEFAULT_LOG_FORMAT,
    DEFAULT_LOG_LEVEL,
    DEFAULT_STATE_DIRECTORY,
    LOG_FORMATS,
    LOG_LEVELS,
    AdminConfig,
    DispatcherConfig,
    KafkaConfig,
    QueueConfig,
    TopicConfig,
    WorkerConfig,
    default_of,
)
from jobu.config.validators import (
    above,
    absolute_path,
    at_least,
    between,
    bind_address,
    env_var_name,
    host_and_port,
    iana_timezone,
    job_name,
    kafka_topic,
    module_name,
    name_like,
    no_duplicates,
    not_empty,
)


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
