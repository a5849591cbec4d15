"""The one exception tree of jobu.

Everything jobu raises on purpose derives from :class:`JobuError`, so callers can
catch jobu's failures without catching programming errors. Database driver errors
never leave ``jobu.db``: they are translated there into the ``DatabaseError``
branch, with the driver's exception kept as ``__cause__``.

A class docstring is the default message, so ``raise DatabaseUnavailableError()``
already tells the operator something useful; most call sites add specifics.
"""

from __future__ import annotations


class UnservedHandlerWarning(UserWarning):
    """A cron or an execution names a handler that no running worker reports serving.

    A warning, not an error: it is stored all the same and waits until a worker that has
    the handler starts (a fresh handler deployed after its cron, say). Pass strict=True
    (`--strict`) to refuse it instead.
    """


class JobuError(Exception):
    """jobu failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip().splitlines()[0])

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


# --- configuration -------------------------------------------------------------


class ConfigError(JobuError):
    """The configuration is not valid; fix the file named in the message."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# --- databases -----------------------------------------------------------------


class DatabaseError(JobuError):
    """A database operation failed."""

    def __init__(self, message: str | None = None, *, database: str | None = None,
                 statement: str | None = None, transient: bool = False) -> None:
        self.database = database
        self.statement = statement
        #: True for conflicts that a fresh attempt of the same transaction may not
        #: meet again (deadlock victim, serialization failure, SQLite busy).
        self.transient = transient
        text = message or (self.__doc__ or "").strip().splitlines()[0]
        if database:
            text = f"database {database!r}: {text}"
        super().__init__(text)


class DatabaseUnavailableError(DatabaseError):
    """The database cannot be reached; check that it runs and that the settings in
    database.yaml are right."""


class ConnectionPoolExhaustedError(DatabaseError):
    """No pooled connection became free in time; raise pool_size or shorten the
    transactions holding them."""


class QueryExecutionError(DatabaseError):
    """The database refused a statement."""


class TransactionError(DatabaseError):
    """A transaction could not be committed or rolled back."""


class IntegrityError(QueryExecutionError):
    """The statement would break a constraint of the database."""


class SchemaError(DatabaseError):
    """The database schema is not the one this jobu expects; run `jobu migrate`."""


# --- the job store -------------------------------------------------------------


class NotFoundError(JobuError, LookupError):
    """No such object."""


class CronNotFoundError(NotFoundError):
    """No cron with that name."""


class ExecutionNotFoundError(NotFoundError):
    """No execution with that id."""


class AlreadyExistsError(JobuError):
    """An object with that name already exists."""


class LeaseLostError(JobuError):
    """This attempt no longer holds the execution's lease; its write was dropped.

    Raised by fenced writes (complete, fail, retry, release, progress) when the
    lease token does not match: the lease expired and the execution was rescued,
    cancelled, or claimed by another worker. Nothing was changed.
    """

    def __init__(self, execution_id: int) -> None:
        self.execution_id = execution_id
        super().__init__(
            f"execution {execution_id}: lease lost (expired, rescued or cancelled); "
            "this attempt's write was not applied"
        )


class InvalidStateError(JobuError):
    """The execution is not in a state that allows this operation."""


# --- schedules and input -------------------------------------------------------


class ScheduleError(JobuError, ValueError):
    """The schedule expression is not valid."""


class InvalidInputError(JobuError, ValueError):
    """A value given on the command line or to the API is not valid."""


class ValueOutOfRangeError(QueryExecutionError, InvalidInputError):
    """A value does not fit the database's column (a number too large, for instance)."""


# --- handlers ------------------------------------------------------------------


class HandlerError(JobuError):
    """A handler could not be found, loaded or run."""


class PermanentError(HandlerError):
    """Raised by a handler: this job failed and retrying it cannot help."""


class MultiCommitRefusedError(TransactionError, PermanentError):
    """The transaction would write to more than one database that cannot prepare
    (SQLite, PostgreSQL with max_prepared_transactions = 0), so it cannot commit on
    all of them or on none; database.yaml allow_best_effort_multi_commit is off.

    A TransactionError for handlers that catch those, and a PermanentError for the
    worker: running the job again cannot help.
    """


class RetryLater(HandlerError):  # noqa: N818 - reads as an instruction at the raise site
    """Raised by a handler: run this job again after `delay_seconds`."""

    def __init__(self, delay_seconds: float, message: str | None = None) -> None:
        self.delay_seconds = float(delay_seconds)
        super().__init__(message or f"retry requested in {self.delay_seconds:g} s")


class CronManagedByFileError(InvalidStateError):
    """The cron is declared in a crons file (crons.yaml, crons.d/*.yaml), which owns it: it is
    changed or removed there, and the dispatcher applies the file on reload."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        super().__init__(
            f"cron {name!r} is managed by {source}: change or remove it there, then reload the "
            "dispatcher (systemctl reload jobu-dispatcher); pausing and resuming it "
            "(jobu cron disable/enable) are allowed")


class CalendarManagedByFileError(InvalidStateError):
    """The calendar is declared in a calendars file (calendars.yaml, calendars.d/*.yaml), which
    owns it: it is changed or removed there, and the dispatcher applies the file on reload."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        super().__init__(
            f"calendar {name!r} is managed by {source}: change or remove it there, then "
            "reload the dispatcher (systemctl reload jobu-dispatcher)")
