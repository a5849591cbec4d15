"""decide(): how an attempt's result or error becomes its recorded outcome."""

from __future__ import annotations

import logging
import random
from dataclasses import replace

from jobu.errors import (
    ConnectionPoolExhaustedError,
    InvalidInputError,
    PermanentError,
    QueryExecutionError,
    RetryLater,
    TransactionError,
)
from jobu.executor import decide
from jobu.model import Execution, Isolation, ParamSource, Status

BASE = Execution(
    id=1, job_id=None, handler_name="h", params={}, param_source=ParamSource.MANUAL,
    scheduled_time=None, status=Status.RUNNING, attempt=1, max_retry=2,
    retry_backoff_seconds=10.0, timeout_seconds=None, run_after=None, priority=0,
    queue="default", isolation=Isolation.THREAD, worker_id="w", lease_token="t",
    lease_expires_at=None, cancel_requested=False, started_at=None, finished_at=None,
    result=None, error_message=None, dedupe_key=None, progress=None, progress_note=None,
    created_at=None, updated_at=None)


def test_a_json_result_is_success():
    outcome = decide(BASE, result={"rows": 3})
    assert (outcome.kind, outcome.status, outcome.result) == ("success", Status.SUCCESS,
                                                              {"rows": 3})
    assert outcome.result_json == '{"rows": 3}'  # encoded once, here, and stored as is
    assert decide(BASE).result_json == "null"


def test_a_result_with_nan_fails_as_the_database_could_not_store_it():
    outcome = decide(BASE, result={"ratio": float("nan")})
    assert (outcome.kind, outcome.status) == ("fail", Status.FAILED)


def test_a_result_that_is_not_json_fails_without_retry():
    outcome = decide(BASE, result={1, 2})
    assert (outcome.kind, outcome.status) == ("fail", Status.FAILED)
    assert "not JSON-serialisable" in outcome.error


def test_an_error_retries_with_exponential_full_jitter_while_attempts_remain():
    rng = random.Random(7)
    delays = [decide(replace(BASE, attempt=n, max_retry=10), error=ValueError("x"),
                     backoff_cap=60, rng=rng).delay for n in range(1, 9)]
    bounds = [min(60, 10 * 2 ** (n - 1)) for n in range(1, 9)]
    assert all(0 <= d <= b for d, b in zip(delays, bounds, strict=True))
    outcome = decide(BASE, error=ValueError("bad row 12"))
    assert (outcome.kind, outcome.status) == ("retry", Status.FAILED)
    assert outcome.error == "ValueError: bad row 12"
    assert "Traceback" in outcome.traceback or "ValueError" in outcome.traceback


def test_the_last_attempt_fails():
    outcome = decide(replace(BASE, attempt=3), error=ValueError("x"))
    assert (outcome.kind, outcome.status) == ("fail", Status.FAILED)


def test_permanent_errors_and_invalid_params_never_retry():
    assert decide(BASE, error=PermanentError("corrupt")).kind == "fail"
    assert decide(BASE, error=InvalidInputError("invalid params")).kind == "fail"


def test_retry_later_sets_its_own_delay_within_the_attempts():
    outcome = decide(BASE, error=RetryLater(42, "not ready"))
    assert (outcome.kind, outcome.delay) == ("retry", 42)
    last = decide(replace(BASE, attempt=3), error=RetryLater(42))
    assert last.kind == "fail" and "no attempts are left" in last.error


def test_timeouts_follow_the_retry_rules_and_cancels_end_at_once():
    assert decide(BASE, ended_as=Status.TIMEOUT).status is Status.TIMEOUT
    assert decide(BASE, ended_as=Status.TIMEOUT).kind == "retry"
    assert decide(replace(BASE, attempt=3), ended_as=Status.TIMEOUT).kind == "fail"
    cancelled = decide(BASE, ended_as=Status.CANCELLED)
    assert (cancelled.kind, cancelled.status) == ("fail", Status.CANCELLED)


def test_database_failures_of_a_handler_are_logged_by_their_gravity():
    busy = decide(BASE, error=ConnectionPoolExhaustedError("all 5 busy", database="pg"))
    refused = decide(BASE, error=QueryExecutionError("syntax error", database="pg"))
    rolled_back = decide(replace(BASE, attempt=3), error=TransactionError("commit failed"))
    plain = decide(BASE, error=ValueError("x"))
    assert busy.level == logging.WARNING and busy.kind == "retry"
    assert refused.level == logging.ERROR and rolled_back.level == logging.ERROR
    assert plain.level == logging.WARNING


def test_a_result_longer_than_the_limit_fails_without_retry_and_says_how_long():
    big = {"rows": "x" * 2000}
    at_limit = len('{"rows": "' + "x" * 2000 + '"}')
    assert decide(BASE, result=big, max_result_bytes=at_limit).kind == "success"
    outcome = decide(replace(BASE, max_retry=3), result=big, max_result_bytes=at_limit - 1)
    assert (outcome.kind, outcome.status) == ("fail", Status.FAILED)
    assert f"{at_limit:,} bytes" in outcome.error and "max_result_bytes" in outcome.error
    # Non-ASCII text is counted in bytes of the JSON stored (escaped), not in characters.
    assert decide(BASE, result="é" * 10, max_result_bytes=59).kind == "fail"
    assert decide(BASE, result=big, max_result_bytes=None).kind == "success"
