"""The files `jobu init DIR --template example` writes: a handler project, ready to run.

Each template is a dict of relative path -> text. ``$project`` in a text becomes the project's
absolute directory (database.yaml's state_directory must be absolute); ``$$`` is a dollar.
"""

from __future__ import annotations

EXAMPLE: dict[str, str] = {}

EXAMPLE["README.md"] = """\
# A jobu handler project

Made by `jobu init`. Business code goes in `handlers/`, its tests in `tests/`, and jobu's
configuration for this project in `etc/jobu/`.

| path | what it is |
| --- | --- |
| `handlers/greetings.py` | `example.greet`: returns a greeting, reports its progress |
| `handlers/visits.py` | `example.count_visits`: counts a page's visits in the database `app` |
| `etc/jobu/database.yaml` | SQLite: jobu's own `var/jobu.db`, the handlers' `app` (`var/app.db`) |
| `etc/jobu/worker.yaml` | where the worker finds the handlers (`handlers/`) |
| `etc/jobu/dispatcher.yaml` | allows crons every 10 s, for trying things out |
| `etc/jobu/crons.yaml` | the example cron: `example.greet` every 10 seconds |
| `tests/` | one pytest test per handler, run in-process with `jobu.testing` |

Run the tests (no worker or jobu database needed; each test gets its own `app` database):

    python3 -m pytest

Run jobu (the dispatcher and a worker in one process; Ctrl-C stops it). Every 10 seconds the
example cron runs `example.greet`:

    jobu run --config-dir etc/jobu

In another terminal, look at what happened and enqueue a job by hand:

    jobu --config-dir etc/jobu jobs list
    jobu --config-dir etc/jobu enqueue example.count_visits --params '{"page": "/about"}'
    jobu --config-dir etc/jobu cron list

Add a handler: a function `(ctx, params) -> result` marked `@handler("name")` in a file under
`handlers/`, a test for it in `tests/`, and a cron for it in `etc/jobu/crons.yaml` (or run it on
demand with `jobu enqueue`). A change to crons.yaml is applied when `jobu run` starts, or on
SIGHUP. database.yaml names this directory by its absolute path: after moving the project,
correct `state_directory` there.
"""

EXAMPLE["pytest.ini"] = """\
[pytest]
testpaths = tests
# jobu.testing's fixture jobu_runner (see tests/conftest.py).
addopts = -p jobu.pytest_plugin
"""

EXAMPLE["handlers/greetings.py"] = '''\
"""example.greet: the smallest handler, with the context a worker gives it."""

from __future__ import annotations

from typing import Any

from jobu.handlers import JobContext, handler


@handler("example.greet")
def greet(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Greet params["name"] (default "world"); the result is stored in the job's history."""
    name = params.get("name", "world")
    ctx.logger.info("greeting %s (attempt %d, scheduled for %s)", name, ctx.attempt,
                    ctx.scheduled_time)
    ctx.progress(0.5, "composing")
    greeting = f"Hello, {name}!"
    ctx.progress(1.0, "done")
    return {"greeting": greeting}
'''

EXAMPLE["handlers/visits.py"] = '''\
"""example.count_visits: a handler that writes to a database of database.yaml (`app`)."""

from __future__ import annotations

from typing import Any

from jobu.db import get_connection, transactional
from jobu.handlers import JobContext, handler

DATABASE = "app"


@handler("example.count_visits")
def count_visits(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Count one more visit of params["page"] (default "/") and return the count.

    The block commits when it ends and rolls back if it raises: a failed attempt leaves no
    half-counted visit behind, and the retry counts it once.
    """
    page = params.get("page", "/")
    with transactional(DATABASE):
        conn = get_connection(DATABASE)
        conn.execute("CREATE TABLE IF NOT EXISTS visits "
                     "(page TEXT PRIMARY KEY, visits INTEGER NOT NULL)")
        conn.execute("INSERT INTO visits (page, visits) VALUES (:page, 1) "
                     "ON CONFLICT (page) DO UPDATE SET visits = visits + 1", {"page": page})
        visits = conn.fetch_value("SELECT visits FROM visits WHERE page = :page",
                                  {"page": page})
    return {"page": page, "visits": visits}
'''

EXAMPLE["etc/jobu/database.yaml"] = """\
# jobu's own tables and the handlers' databases. Relative SQLite paths are under
# state_directory, this project's var/ (an absolute path: correct it if the project moves).
state_directory: $project/var

# The database jobu keeps its crons and job history in.
jobs_database: jobs

databases:
  jobs:
    driver: sqlite
    path: jobu.db
  # The handlers' own database: handlers/visits.py writes to it.
  app:
    driver: sqlite
    path: app.db
"""

EXAMPLE["etc/jobu/worker.yaml"] = """\
# Where the worker finds the handlers: every .py file below these directories (relative to
# this file's directory) is imported, and what @handler marks in it is served.
handler_paths: [../../handlers]

# The databases the handlers may use (ctx.db, transactional): app only, not jobu's own.
databases: [app]

pool_size: 2
poll_interval_seconds: 1
"""

EXAMPLE["etc/jobu/dispatcher.yaml"] = """\
# Crons may fire every 10 seconds here, for trying things out (jobu's default is 60).
min_cron_interval_seconds: 10
poll_interval_seconds: 1
"""

EXAMPLE["etc/jobu/crons.yaml"] = """\
# Crons declared in a file: applied when the dispatcher (or `jobu run`) starts and on SIGHUP.
# A cron that leaves this file is disabled, not deleted. The keys are those of `jobu cron add`;
# jobu's shipped /etc/jobu/crons.yaml documents them all.
crons:
  greet-every-10s:
    description: the example cron, greeting the world every 10 seconds
    schedule: every 10s
    handler: example.greet
    params: {name: world}
"""

EXAMPLE["tests/conftest.py"] = '''\
"""The handlers run in-process by jobu.testing's fixture `jobu_runner` (pytest.ini loads it):
with this project's configuration, and a fresh `app` database for each test."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def jobu_config_dir() -> Path:
    """The configuration whose databases and handler paths the runner uses."""
    return PROJECT / "etc" / "jobu"


@pytest.fixture
def jobu_databases(tmp_path: Path) -> dict[str, str]:
    """The database `app` of each test: a new SQLite file, not the project's var/app.db."""
    return {"app": f"sqlite:///{tmp_path}/app.db"}
'''

EXAMPLE["tests/test_greetings.py"] = '''\
"""example.greet, run as a worker would run it."""

from jobu.model import Status


def test_greet_greets_by_name_and_reports_its_progress(jobu_runner):
    run = jobu_runner.run("example.greet", {"name": "Ada"})

    assert run.status is Status.SUCCESS, run.traceback
    assert run.result == {"greeting": "Hello, Ada!"}
    assert run.progress == [(0.5, "composing"), (1.0, "done")]
'''

EXAMPLE["tests/test_visits.py"] = '''\
"""example.count_visits, on a database of its own."""

from jobu.model import Status


def test_count_visits_counts_each_visit_of_a_page(jobu_runner):
    first = jobu_runner.run("example.count_visits", {"page": "/about"})
    second = jobu_runner.run("example.count_visits", {"page": "/about"})
    other = jobu_runner.run("example.count_visits", {"page": "/"})

    assert first.status is Status.SUCCESS, first.traceback
    assert (first.result, second.result, other.result) == (
        {"page": "/about", "visits": 1}, {"page": "/about", "visits": 2},
        {"page": "/", "visits": 1})
'''

#: The templates by name (`jobu init --template NAME`).
TEMPLATES = {"example": EXAMPLE}
