"""The records every layer of jobu shares: states, crons, executions, workers.

Plain frozen dataclasses and str-enums (they serialise as their value). No I/O and
no SQL; timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Status(str, enum.Enum):
    """The state of one execution (see DESIGN.md §2 for the transitions)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"
    MISSED = "MISSED"

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        return self not in ACTIVE_STATUSES

    @property
    def is_runnable(self) -> bool:
        return self in (Status.PENDING, Status.RETRY)


#: Cron, handler, queue and calendar names: 1-200 letters, digits and . _ : -, starting with
#: a letter or digit. One grammar for every place a name is typed (the CLI, the Client, the
#: admin, crons.yaml, worker.yaml, queue.yaml), so that what one accepts another can serve.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}")
#: How a refusal describes NAME_PATTERN.
NAME_RULE = "1-200 letters, digits and . _ : - (starting with a letter or digit)"


#: An execution in one of these states is not finished yet.
ACTIVE_STATUSES = frozenset({Status.PENDING, Status.RUNNING, Status.RETRY})


class OutcomeKind(enum.StrEnum):
    """How an attempt ends, which decides what the store writes for it."""

    SUCCESS = "success"  # SUCCESS, with the handler's result
    RETRY = "retry"      # the attempt failed (FAILED/TIMEOUT) and the execution runs again later
    FAIL = "fail"        # the execution ends FAILED, TIMEOUT or CANCELLED
    RELEASE = "release"  # handed back unfinished, not counted (worker shutdown)


class ParamSource(str, enum.Enum):
    """Where an execution came from."""

    CRON = "cron"
    EVENT = "event"
    MANUAL = "manual"

    def __str__(self) -> str:
        return self.value


class CatchUp(str, enum.Enum):
    """What the dispatcher does with ticks that passed while nothing dispatched."""

    SKIP = "skip"      # run none of them; record them MISSED
    LATEST = "latest"  # run the most recent one once; record the rest MISSED
    ALL = "all"        # run each, up to catch_up_max_runs; record the rest MISSED

    def __str__(self) -> str:
        return self.value


class DstRepeat(str, enum.Enum):
    """What a cron does when the clock changes (see jobu.schedule, "daylight saving")."""

    AUTO = "auto"    # as cronie: fixed-time crons as FIRST; wildcard ones both, no catch-up
    FIRST = "first"  # a repeated wall time fires once; a skipped one after the gap
    BOTH = "both"    # a repeated wall time fires twice; a skipped one after the gap

    def __str__(self) -> str:
        return self.value


class Isolation(str, enum.Enum):
    """How a handler runs: in a pool thread, or in a child process that can be killed."""

    THREAD = "thread"
    PROCESS = "process"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CronSpec:
    """What an operator says about a cron: the writable fields of `cron_jobs`.

    Defaults here are the defaults of `jobu cron add` and of the admin form.
    """

    name: str
    schedule: str
    handler_name: str
    handler_params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    timezone: str = "UTC"
    is_enabled: bool = True
    allow_overlap: bool = False
    catch_up: CatchUp = CatchUp.LATEST
    misfire_grace_seconds: int = 60
    catch_up_max_runs: int = 10
    dst_repeat: DstRepeat = DstRepeat.AUTO
    jitter_seconds: int = 0
    max_retry: int = 0
    retry_backoff_seconds: float = 10.0
    timeout_seconds: float | None = None
    priority: int = 0
    queue: str = "default"
    isolation: Isolation = Isolation.THREAD


#: The fields of CronSpec, in declaration order (the columns an edit may change).
CRON_SPEC_FIELDS = tuple(CronSpec.__dataclass_fields__)


@dataclass(frozen=True)
class CronJob(CronSpec):
    """A stored cron: its spec plus what the store keeps about it."""

    id: int = 0
    #: The last tick the dispatcher evaluated (dispatched, skipped or missed).
    last_tick_at: datetime | None = None
    #: The next tick the dispatcher will evaluate, as it computed it.
    next_tick_at: datetime | None = None
    #: Bumped on every change, so a dispatcher can tell that it must re-plan.
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def spec(self) -> CronSpec:
        return CronSpec(**{name: getattr(self, name) for name in CRON_SPEC_FIELDS})


@dataclass(frozen=True)
class NewExecution:
    """An execution to insert: a cron tick, an event or a manual enqueue."""

    handler_name: str
    params: dict[str, Any] = field(default_factory=dict)
    param_source: ParamSource = ParamSource.MANUAL
    job_id: int | None = None
    #: The tick this execution belongs to; None means "now" (database clock).
    scheduled_time: datetime | None = None
    status: Status = Status.PENDING
    max_retry: int = 0
    retry_backoff_seconds: float = 10.0
    timeout_seconds: float | None = None
    #: Not claimable before this time; None means "now".
    run_after: datetime | None = None
    priority: int = 0
    queue: str = "default"
    isolation: Isolation = Isolation.THREAD
    #: Unique when set: a Kafka topic/partition/offset or a caller's idempotency key.
    dedupe_key: str | None = None
    #: For SKIPPED and MISSED rows: why the tick did not run.
    error_message: str | None = None


@dataclass(frozen=True)
class Execution:
    """One row of `job_executions`."""

    id: int
    job_id: int | None
    handler_name: str
    params: dict[str, Any]
    param_source: ParamSource
    scheduled_time: datetime | None
    status: Status
    attempt: int
    max_retry: int
    retry_backoff_seconds: float
    timeout_seconds: float | None
    run_after: datetime | None
    priority: int
    queue: str
    isolation: Isolation
    worker_id: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    started_at: datetime | None
    finished_at: datetime | None
    result: Any
    error_message: str | None
    dedupe_key: str | None
    progress: float | None
    progress_note: str | None
    created_at: datetime | None
    updated_at: datetime | None
    #: The cron's name, when the execution belongs to one that still exists.
    cron_name: str | None = None

    @property
    def attempts_left(self) -> int:
        """How many more attempts the retry rules allow after the current one."""
        return max(0, self.max_retry + 1 - self.attempt)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class AttemptError:
    """The error that ended one attempt of an execution."""

    execution_id: int
    attempt: int
    status: Status
    error_message: str
    traceback: str | None
    worker_id: str | None
    occurred_at: datetime | None


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions a listing returns. Every field narrows; None means any."""

    statuses: tuple[Status, ...] | None = None
    job_id: int | None = None
    handler_name: str | None = None
    param_source: ParamSource | None = None
    #: Inclusive lower and exclusive upper bound on scheduled_time.
    since: datetime | None = None
    until: datetime | None = None
    #: Only these executions (the admin's live refresh of the rows a page shows).
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ExecutionPage:
    """One page of a listing, newest first; pass `next_cursor` to get the next."""

    items: list[Execution]
    next_cursor: int | None


@dataclass(frozen=True)
class RecentRuns:
    """The newest executions of a cron (the crons list's strip of outcomes)."""

    #: Their statuses, newest first.
    statuses: tuple[Status, ...]
    #: The status and start of the newest of them that started; None when none did.
    last_started: tuple[Status, datetime] | None


@dataclass(frozen=True)
class CronStats:
    """What the history says about one cron."""

    job_id: int
    total: int
    success: int
    failed: int
    timeout: int
    skipped: int
    missed: int
    last_run_at: datetime | None
    last_status: Status | None
    avg_duration_seconds: float | None
    p95_duration_seconds: float | None
    #: Mean of started_at - scheduled_time over executions that started.
    avg_start_lateness_seconds: float | None


@dataclass(frozen=True)
class WorkerInfo:
    """One row of `workers`: a live (or lately live) jobu daemon process."""

    id: str
    kind: str
    hostname: str
    pid: int
    pool_size: int = 0
    running: int = 0
    handlers: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    version: str = ""
    started_at: datetime | None = None
    last_heartbeat: datetime | None = None


@dataclass(frozen=True)
class DatabaseSpec:
    """How to reach one named database of database.yaml (secrets resolved).

    `driver` is one of ``sqlite``, ``postgres``, ``mysql``. For SQLite only
    `path` matters (``:memory:`` is allowed for tests).
    """

    name: str
    driver: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    dbname: str | None = None
    path: str | None = None
    pool_size: int = 5
    pool_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    #: SQLite: how long a writer waits for the lock before failing.
    busy_timeout_seconds: float = 5.0
    #: Driver options passed through as they are (e.g. sslmode for PostgreSQL).
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """A one-line description without secrets, for logs and messages."""
        if self.driver == "sqlite":
            return f"sqlite:///{self.path}"
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.driver}://{user}{self.host or 'localhost'}{port}/{self.dbname or ''}"
