"""Every use case of jobu, once: what the CLI, jobu.Client, the admin and jobu-queued call.

A front end translates its input (argv, Python arguments, a form, a Kafka message)
into one of these calls and prints or returns what it gives back; the checks on
every value are made here, so a bad value is refused with the same sentence
wherever it is typed. Below the front ends, above the store (import-linter checks
both directions: see setup.cfg).

* enqueuing — one execution, a list, or many copies (`jobu enqueue`, Client.enqueue);
* crons — add, edit, declare idempotently, enable, disable, remove, run now, look up;
* executions — list, show, retry, cancel;
* jobs, triggers, handler_refs — the Python scheduling API's view of crons;
* stats, status — what the history and the `workers` table say;
* types — type checks on values from Python callers (argparse types the CLI's);
* recovery — two-phase recovery at daemon start and on demand;
* queue_messages, dead_letters — what a Kafka message becomes (jobu-queued), and the dead
  letters of those that could not become executions: list, show, replay, discard.

Functions take the store (and, where time matters, a Clock) as arguments, so a
test passes a fake clock and every front end shares one implementation.
"""

from __future__ import annotations

from jobu.operations.crons import (
    CronRules,
    add_cron,
    check_handler_served,
    declare_cron,
    edit_cron,
    get_cron,
    list_crons,
    next_fire_time,
    next_fire_times,
    remove_cron,
    run_cron_now,
    set_cron_enabled,
)
from jobu.operations.enqueuing import enqueue, enqueue_copies, enqueue_many, new_execution
from jobu.operations.executions import (
    ExecutionDetail,
    cancel_execution,
    get_execution,
    list_executions,
    parse_statuses,
    retry_execution,
)
from jobu.operations.jobs import JobInfo, get_job, list_jobs
from jobu.operations.stats import JobStats, job_stats
from jobu.operations.status import NextFire, SchedulerStatus, scheduler_status

__all__ = [
    "CronRules", "ExecutionDetail", "JobInfo", "JobStats", "NextFire", "SchedulerStatus",
    "add_cron", "cancel_execution", "check_handler_served", "declare_cron", "edit_cron",
    "enqueue", "enqueue_copies", "enqueue_many", "get_cron", "get_execution", "get_job",
    "job_stats", "list_crons", "list_executions", "list_jobs", "new_execution",
    "next_fire_time", "next_fire_times", "parse_statuses", "remove_cron", "retry_execution",
    "run_cron_now", "scheduler_status", "set_cron_enabled",
]
