"""The shape of jobu's configuration: a frozen dataclass per daemon's file (and per section of
one), holding every default. This is what the rest of jobu receives; the schemas
(jobu.config.schemas) take their `load_default` values from these classes, so each default is
written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobu.model import Status

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
