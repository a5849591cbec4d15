"""The pytest fixture `jobu_runner`, for handler authors' tests (see jobu.testing).

Enable it in the conftest.py at the top of the project's tests::

    pytest_plugins = ["jobu.pytest_plugin"]

and, to run the handlers with the databases and handler paths of a configuration directory,
override `jobu_config_dir` there (by default the runner has no databases and finds handlers
only when given the function itself)::

    @pytest.fixture
    def jobu_config_dir():
        return Path(__file__).parent.parent / "etc" / "jobu"

Override `jobu_databases` to replace some of those databases for the tests (name -> URL or
DatabaseSpec), for instance with a SQLite file under pytest's tmp_path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from jobu.testing import HandlerRunner


@pytest.fixture
def jobu_config_dir() -> Path | None:
    """The jobu configuration directory whose databases and handlers `jobu_runner` uses;
    None: none (override this fixture to name one)."""
    return None


@pytest.fixture
def jobu_databases() -> Mapping[str, Any]:
    """Databases that replace or add to the configuration's for the tests (name -> URL or
    DatabaseSpec); none by default."""
    return {}


@pytest.fixture
def jobu_runner(jobu_config_dir: Path | None,
                jobu_databases: Mapping[str, Any]) -> Iterator[HandlerRunner]:
    """A HandlerRunner for one test; its databases are closed after it."""
    if jobu_config_dir is None:
        runner = HandlerRunner(jobu_databases)
    else:
        runner = HandlerRunner.from_config(jobu_config_dir, databases=jobu_databases)
    with runner:
        yield runner
