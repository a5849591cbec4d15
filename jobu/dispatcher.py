"""jobu-dispatcher: every cron tick becomes exactly one execution row, on time.

A pass (``run_once``, driven by jobu.daemon):

1. keeps this process's row in ``workers`` (kind "dispatcher") fresh;
2. reads the enabled crons that are due, in batches: those whose planned tick
   (``next_tick_at``) has come, and those not planned yet because they are new or
   were changed. Other crons cost nothing: their schedules are not computed, and a
   due cron read before is read again whole only if it has a new version. For
   each due cron, jobu.planning decides which ticks run, which are MISSED (a long
   gap is one row naming the range, and why no dispatcher recorded it in time)
   and which are SKIPPED (overlap), and each batch is recorded in one transaction
   (``Store.cron_record_ticks``). That is a compare-and-set on each cron's
   version and last tick, so however many dispatchers run, one of them records
   each tick, and a restart neither repeats nor forgets one.
   ``UNIQUE(job_id, scheduled_time)`` backs this up. The pass's log lines are
   written once its last batch is in;
3. advances the maintenance pass (jobu.maintenance) every
   ``maintenance_interval_seconds``, in slices that end before the next tick;
4. returns how long to sleep: until the next planned tick of any cron, at most
   ``max_sleep_seconds``, and at most ``poll_interval_seconds`` unless PostgreSQL's
   LISTEN on ``jobu_crons`` wakes it the moment a cron is added or changed.

At start and after each reload (SIGHUP), before its pass, it applies the calendars declared
in calendars.yaml and calendars.d/*.yaml (jobu.operations.calendar_files: added, updated,
removed when they left the files and no cron names them), then the crons declared in
crons.yaml and crons.d/*.yaml (jobu.operations.cron_files): added, updated in place, or
disabled when they left the files. Calendars first: a cron of the files may name one.

A cron whose schedule names a calendar (jobu.calendars) is planned with the calendar as
stored: each pass that plans such a cron reads the calendars' versions once, and a
calendar that changed is read again (saving one also re-plans the crons that name it).

A cron whose schedule cannot be evaluated (not valid, firing more often than
``min_cron_interval_seconds``, or naming a calendar that does not exist) is not
dispatched: the refusal is logged once per version of the cron, and the cron is looked
at again every ``max_sleep_seconds``.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from jobu import __version__
from jobu.calendars import Calendar, split_schedule
from jobu.clock import Clock, SystemClock
from jobu.config import Config, DispatcherConfig
from jobu.config.calendarfiles import CalendarFiles
from jobu.config.cronfiles import CronFiles
from jobu.errors import DatabaseError, ScheduleError
from jobu.maintenance import Maintenance
from jobu.model import CronJob, Status, WorkerInfo
from jobu.operations.calendar_files import apply_calendar_files
from jobu.operations.cron_files import apply_cron_files
from jobu.operations.crons import CronRules
from jobu.planning import (
    PassHistory,
    SharedAnswers,
    TickPlan,
    checked_schedule,
    executions_for,
    plan_ticks,
)
from jobu.schedule import Schedule
from jobu.store import CronOutlook, Store, TickRecord
from jobu.store.listener import CRONS_CHANNEL, Listener

log = logging.getLogger("jobu.dispatcher")

#: Seconds between two refreshes of this dispatcher's row in `workers`.
HEARTBEAT_SECONDS = 10.0
#: Due crons read, planned and recorded per transaction.
DUE_BATCH = 500
#: Batches per pass; more due crons than this wait for the next pass (at once).
MAX_BATCHES_PER_PASS = 40
#: Crons kept as last read (a few kB each), so that a pass does not read them again.
MAX_CRONS_KEPT = 100_000
#: The longest slice of maintenance one pass runs...
MAINTENANCE_SLICE_SECONDS = 1.0
#: ...and it ends this long before the next tick, so that no tick waits for it.
TICK_MARGIN_SECONDS = 0.05


def new_dispatcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


class Dispatcher:
    """The dispatcher Service (see jobu.daemon)."""

    name = "dispatcher"

    def __init__(self, store: Store, settings: DispatcherConfig,
                 wake: threading.Event | None = None, *, clock: Clock | None = None,
                 listen: bool = True, database_clock: bool = True,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS,
                 worker_heartbeat_seconds: float = 10.0,
                 dispatcher_id: str | None = None, cron_files: CronFiles | None = None,
                 calendar_files: CalendarFiles | None = None) -> None:
        """`database_clock`: rows are stamped, and leases and ages judged, by the
        database's clock (production); False uses the `now` of each pass, so that
        tests can drive time with a FakeClock. `cron_files`: the crons of crons.yaml and
        crons.d to apply before the first pass (None: leave the crons as they are);
        `calendar_files`: likewise the calendars of calendars.yaml and calendars.d,
        applied before the crons."""
        self.store = store
        self.settings = settings
        self.wake = wake or threading.Event()
        self.clock = clock or SystemClock()
        self.dispatcher_id = dispatcher_id or new_dispatcher_id()
        self.database_clock = database_clock
        self.heartbeat_seconds = heartbeat_seconds
        self.maintenance = Maintenance(store, settings, database_clock=database_clock,
                                       worker_heartbeat_seconds=worker_heartbeat_seconds)
        self._listen = listen and store.database.dialect.supports_notify
        self._listener: Listener | None = None
        self._registered = False
        self._next_heartbeat: datetime | None = None
        self._next_maintenance: datetime | None = None
        self._maintenance_steps: Iterator[None] | None = None
        self._outlook: CronOutlook | None = None
        self._state = "starting"
        #: Checked schedules (or why they were refused), by what they depend on.
        self._schedules: dict[tuple, Schedule | str] = {}
        self._refusals: set[tuple[int, int, str]] = set()
        #: The crons as last read, by id: a due cron whose version has not changed since
        #: is not read again (Store.cron_due's `known`).
        self._crons: dict[int, CronJob] = {}
        self._recording: ThreadPoolExecutor | None = None
        #: Its own past, which a MISSED row's reason comes from (planning.PassHistory).
        self._started_at: datetime | None = None
        self._last_pass: tuple[datetime, datetime] | None = None
        self._failing_since: datetime | None = None
        #: Cron files read at start or at the last reload and not applied yet.
        self._cron_files = cron_files
        self._calendar_files = calendar_files
        #: Calendars as last read, by name; their versions as read in this pass (None:
        #: not read yet this pass).
        self._calendars: dict[str, Calendar] = {}
        self._calendar_versions: dict[str, int] | None = None

    # --- the Service protocol ------------------------------------------------------

    def run_once(self, now: datetime) -> float:
        """Dispatch every due tick, advance maintenance; seconds until the next pass."""
        if self._started_at is None:
            self._started_at = now
        try:
            self._keep_registered(now)
            self._apply_cron_files()
            self._dispatch_due(now)
            if self._maintenance_steps is None and (self._next_maintenance is None
                                                    or now >= self._next_maintenance):
                self._maintenance_steps = self.maintenance.steps(now)
                self._next_maintenance = now + timedelta(
                    seconds=self.settings.maintenance_interval_seconds)
            outlook = self.store.cron_outlook()
            self._advance_maintenance(outlook)
        except DatabaseError:
            self._state = "database unavailable"
            if self._failing_since is None:
                self._failing_since = now
            raise
        self._outlook, self._state = outlook, "evaluated"
        self._last_pass, self._failing_since = (now, self.clock.now()), None
        return self._seconds_to_next_pass(outlook)

    def status(self) -> str:
        """"12 crons, next tick jobu-report at 03:00:00 UTC (in 41 s)"."""
        if self._outlook is None:
            return "starting"
        outlook, now = self._outlook, self.clock.now()
        text = f"{outlook.enabled} cron{'' if outlook.enabled == 1 else 's'}"
        if outlook.next_tick_at is not None:
            tick = outlook.next_tick_at.astimezone(UTC)
            shown = tick.strftime("%H:%M:%S" if tick.date() == now.date() else "%Y-%m-%d %H:%M:%S")
            wait = max(0.0, (tick - now).total_seconds())
            text += f", next tick {outlook.next_name} at {shown} UTC (in {wait:.0f} s)"
        elif outlook.enabled:
            text += ", none planned yet"
        if self._maintenance_steps is not None:
            text += ", maintenance running"
        return text

    def healthy(self) -> bool:
        """The last pass evaluated the crons, or found the database away (and will retry)."""
        return self._state in ("evaluated", "database unavailable")

    def reload(self, config: Config) -> None:
        self.settings = self.maintenance.settings = config.dispatcher
        if config.crons is not None:
            self._cron_files = config.crons
        if config.calendars is not None:
            self._calendar_files = config.calendars
        self._schedules.clear()
        self._refusals.clear()
        logging.getLogger().setLevel(config.dispatcher.log_level)
        interval = timedelta(seconds=config.dispatcher.maintenance_interval_seconds)
        sooner = self.clock.now() + interval
        if self._next_maintenance is not None and sooner < self._next_maintenance:
            self._next_maintenance = sooner

    def shutdown(self, hard_stop: threading.Event) -> None:
        """Stop listening and remove this dispatcher's row; nothing runs, so nothing drains."""
        if self._listener is not None:
            self._listener.stop()
        if self._recording is not None:
            self._recording.shutdown()  # idle: a pass waits for its last batch
        if self._registered and self._state != "database unavailable":
            try:
                self.store.worker_deregister(self.dispatcher_id)
            except DatabaseError as error:
                log.warning("could not remove dispatcher %s from workers: %s",
                            self.dispatcher_id, error)

    def finish_maintenance(self) -> None:
        """Run what is left of the current maintenance pass (`jobu dispatcher --once`)."""
        while self._maintenance_steps is not None:
            self._maintenance_step()

    # --- registration --------------------------------------------------------------

    def _keep_registered(self, now: datetime) -> None:
        stamp = self._stamp(now)
        if not self._registered:
            self.store.check_schema()
            self._register(stamp)
            log.info("dispatcher %s on %s", self.dispatcher_id,
                     self.store.database.spec.describe())
            if self._listen and self._listener is None:
                self._listener = Listener(self.store.database.spec, [CRONS_CHANNEL],
                                          lambda channel, payload: self.wake.set()).start()
        elif now >= self._next_heartbeat and not self.store.worker_heartbeat(
                self.dispatcher_id, 0, now=stamp):
            self._register(stamp)  # pruned while it could not heartbeat: come back
        if self._next_heartbeat is None or now >= self._next_heartbeat:
            self._next_heartbeat = now + timedelta(seconds=self.heartbeat_seconds)

    def _register(self, stamp: datetime | None) -> None:
        self.store.worker_register(WorkerInfo(
            id=self.dispatcher_id, kind="dispatcher", hostname=socket.gethostname(),
            pid=os.getpid(), version=__version__), now=stamp)
        self._registered = True

    # --- crons declared in files ------------------------------------------------------

    def _apply_cron_files(self) -> None:
        """Apply the calendar files, then the cron files, once each; a DatabaseError leaves
        what is not applied yet to the next pass."""
        if self._calendar_files is not None:
            calendars = self._calendar_files
            done = apply_calendar_files(self.store, calendars)
            self._calendar_files = None
            log.info("calendar files applied (%s): %s",
                     ", ".join(calendars.paths) or "none present", done.summary())
        if self._cron_files is None:
            return
        files = self._cron_files
        applied = apply_cron_files(self.store, files, CronRules.of(self.settings), self.clock)
        self._cron_files = None
        log.info("cron files applied (%s): %s",
                 ", ".join(files.paths) or "none present", applied.summary())

    # --- dispatching -----------------------------------------------------------------

    def _dispatch_due(self, now: datetime) -> None:
        """Plan and record every due cron, batch after batch.

        While one batch is recorded (on the recorder thread: mostly waiting for the
        database), the next is read and planned (here: mostly Python). A read sees the
        crons of the batch still being recorded as due, so it asks for that many more
        and leaves them out. Batches are recorded one at a time, in order.
        """
        history = PassHistory(self._started_at or now, self._last_pass, self._failing_since)
        self._calendar_versions = None
        shared: dict[Schedule, SharedAnswers] = {}
        recorded: list[tuple[TickRecord, list[int | None] | None]] = []
        recording: Future | None = None
        in_flight: set[int] = set()
        try:
            for _ in range(MAX_BATCHES_PER_PASS):
                limit = DUE_BATCH + len(in_flight)
                found = self.store.cron_due(now, limit, known=self._crons)
                if len(self._crons) + len(found) > MAX_CRONS_KEPT:
                    self._crons.clear()
                self._crons.update((cron.id, cron) for cron in found)
                waiting = [cron for cron in found if cron.id not in in_flight]
                records = self._plan_batch(waiting[:DUE_BATCH], now, history, shared)
                if recording is not None:
                    done, recording, in_flight = recording, None, set()
                    recorded += done.result()
                if records:
                    recording = self._recorder().submit(self._record_batch, records, now)
                    in_flight = {record.job_id for record in records}
                if (len(found) < limit and len(waiting) <= DUE_BATCH) or self.wake.is_set():
                    return  # all done, or a signal or notification the loop must see first
        finally:
            try:
                if recording is not None:
                    recorded += recording.result()
            finally:
                # Logged once every batch is in (or the pass failed): ten thousand lines take
                # a while, and the rows of the last batch should not wait for the first's.
                for record, ids in recorded:
                    self._log_recorded(record, ids)

    def _recorder(self) -> ThreadPoolExecutor:
        """The thread that records batches while the next one is planned."""
        if self._recording is None:
            self._recording = ThreadPoolExecutor(1, thread_name_prefix="jobu-record")
        return self._recording

    def _dispatch(self, due: list[CronJob], now: datetime, history: PassHistory | None = None,
                  shared: dict[Schedule, SharedAnswers] | None = None
                  ) -> list[tuple[TickRecord, list[int | None] | None]]:
        """Plan and record one batch of due crons; each record with its new ids, to log."""
        records = self._plan_batch(due, now, history, {} if shared is None else shared)
        return self._record_batch(records, now)

    def _plan_batch(self, due: list[CronJob], now: datetime, history: PassHistory | None,
                    shared: dict[Schedule, SharedAnswers]) -> list[TickRecord]:
        if not due:
            return []
        plans = [(cron, self._plan(cron, now, shared, history)) for cron in due]
        no_overlap = [cron.id for cron, plan in plans
                      if plan is not None and plan.run and not cron.allow_overlap]
        active = self.store.execution_active_for_crons(no_overlap) if no_overlap else {}
        return [self._record(cron, plan, active.get(cron.id), now) for cron, plan in plans]

    def _record_batch(self, records: list[TickRecord], now: datetime
                      ) -> list[tuple[TickRecord, list[int | None] | None]]:
        results = self.store.cron_record_ticks(records, now=self._stamp(now))
        return list(zip(records, results, strict=True))

    def _plan(self, cron: CronJob, now: datetime, shared: dict[Schedule, SharedAnswers],
              history: PassHistory | None) -> TickPlan | None:
        """The cron's plan, or None (logged) when its schedule cannot be evaluated."""
        try:
            schedule = self._schedule(cron, now)
            answers = shared.setdefault(schedule, SharedAnswers(schedule))
            return plan_ticks(cron, answers, now, history=history)
        except ScheduleError as error:
            self._refuse(cron, str(error), exc_info=False)
        except DatabaseError:
            raise  # reading a calendar failed: the pass fails, as any read does
        except Exception as error:  # noqa: BLE001 - a bug met by one cron must not stop the rest
            self._refuse(cron, f"{type(error).__name__}: {error}", exc_info=True)
        return None

    def _schedule(self, cron: CronJob, now: datetime) -> Schedule:
        """The cron's checked schedule, parsed once per expression and minimum interval."""
        calendar = self._calendar(split_schedule(cron.schedule)[1])
        key = (cron.schedule, cron.timezone, str(cron.dst_repeat),
               self.settings.min_cron_interval_seconds, calendar and calendar.version)
        found = self._schedules.get(key)
        if found is None:
            if len(self._schedules) >= 10_000:
                self._schedules.clear()
            try:
                found = checked_schedule(cron, self.settings.min_cron_interval_seconds, now,
                                         calendar)
            except ScheduleError as error:
                found = str(error)
            self._schedules[key] = found
        if isinstance(found, str):
            raise ScheduleError(found)
        return found

    def _calendar(self, name: str | None) -> Calendar | None:
        """The calendar called `name` as stored; ScheduleError if there is none."""
        if name is None:
            return None
        if self._calendar_versions is None:
            self._calendar_versions = self.store.calendar_versions()
        version = self._calendar_versions.get(name)
        if version is None:
            raise ScheduleError(f"its schedule names calendar {name!r}, which does not exist; "
                                f"add it with `jobu calendar add {name}`")
        known = self._calendars.get(name)
        if known is None or known.version != version:
            known = self._calendars[name] = self.store.calendar_get(name)
        return known

    def _refuse(self, cron: CronJob, reason: str, *, exc_info: bool) -> None:
        """Log, once per version of the cron, why it is not dispatched."""
        if (cron.id, cron.version, reason) not in self._refusals:
            self._refusals.add((cron.id, cron.version, reason))
            log.error("cron %s is not dispatched: %s", cron.name, reason, exc_info=exc_info,
                      extra={"cron": cron.name})

    def _record(self, cron: CronJob, plan: TickPlan | None,
                active: tuple[int, Status] | None, now: datetime) -> TickRecord:
        common = {"job_id": cron.id, "name": cron.name, "version": cron.version,
                  "previous_tick_at": cron.last_tick_at}
        if plan is None:  # looked at again later, in case the configuration changes
            return TickRecord(**common, last_tick_at=cron.last_tick_at, next_tick_at=now
                              + timedelta(seconds=self.settings.max_sleep_seconds))
        return TickRecord(**common, last_tick_at=plan.last_tick_at,
                          next_tick_at=plan.next_tick_at,
                          executions=tuple(executions_for(cron, plan, active)),
                          disable=plan.finished)

    def _log_recorded(self, record: TickRecord, ids: list[int | None] | None) -> None:
        if ids is None:
            log.debug("cron %s changed, or another dispatcher recorded it first", record.name)
            return
        info = log.isEnabledFor(logging.INFO)
        for new, execution_id in zip(record.executions, ids, strict=True):
            if execution_id is None or (not info and new.status is not Status.MISSED):
                continue  # its row exists already, or its line would not be logged
            tick = f"{new.scheduled_time.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
            extra = {"execution_id": execution_id, "cron": record.name,
                     "handler": new.handler_name, "outcome": str(new.status)}
            if new.status is Status.PENDING:
                delay = (new.run_after - new.scheduled_time).total_seconds()
                jitter = f" (runs after {delay:.3f} s of jitter)" if delay else ""
                log.info("cron %s: tick %s dispatched as execution %d%s", record.name, tick,
                         execution_id, jitter, extra=extra)
            elif new.status is Status.SKIPPED:
                log.info("cron %s: tick %s SKIPPED, %s (execution %d)", record.name, tick,
                         new.error_message, execution_id, extra=extra)
            else:
                log.warning("cron %s: %s (execution %d)", record.name, new.error_message,
                            execution_id, extra=extra)
        if record.disable:
            log.info("cron %s: its schedule fires no more; disabled", record.name,
                     extra={"cron": record.name})

    # --- maintenance and sleeping ------------------------------------------------------

    def _advance_maintenance(self, outlook: CronOutlook) -> None:
        """Run maintenance steps until the slice ends (at least one step per pass)."""
        if self._maintenance_steps is None:
            return
        budget = MAINTENANCE_SLICE_SECONDS
        if outlook.next_tick_at is not None:
            until_tick = (outlook.next_tick_at - self.clock.now()).total_seconds()
            budget = min(budget, until_tick - TICK_MARGIN_SECONDS)
        deadline = time.monotonic() + budget
        self._maintenance_step()
        while self._maintenance_steps is not None and time.monotonic() < deadline:
            self._maintenance_step()

    def _maintenance_step(self) -> None:
        try:
            next(self._maintenance_steps)
        except StopIteration:
            self._maintenance_steps = None
            tally = self.maintenance.tally
            log.debug("maintenance done: %d rescued, %d pruned, %d daemons forgotten",
                      tally.rescued, tally.pruned, tally.workers_pruned)
        except BaseException:
            self._maintenance_steps = None  # a failed pass starts afresh next interval
            raise

    def _seconds_to_next_pass(self, outlook: CronOutlook) -> float:
        now = self.clock.now()
        waits = [self.settings.max_sleep_seconds,
                 (self._next_heartbeat - now).total_seconds(),
                 (self._next_maintenance - now).total_seconds()]
        if outlook.unplanned or self._maintenance_steps is not None:
            waits.append(0.0)
        if outlook.next_tick_at is not None:
            waits.append((outlook.next_tick_at - now).total_seconds())
        if self._listener is None or not self._listener.listening.is_set():
            waits.append(self.settings.poll_interval_seconds)
        return max(0.0, min(waits))

    def _stamp(self, now: datetime) -> datetime | None:
        """The time the store stamps rows with: None is the database's clock."""
        return None if self.database_clock else now

