"""`jobu jobs show` shortens a long result unless --full (or --json)."""

from __future__ import annotations

import json

import pytest

from jobu.cli import main
from jobu.cli.jobs import SHOWN_RESULT_CHARS
from jobu.model import NewExecution, OutcomeKind, Status
from jobu.store import FinishedAttempt
from tests.conftest import spec_url


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_a_long_result_is_cut_unless_full(store, db_spec, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JOBU_DATABASE_URL", spec_url(db_spec))
    monkeypatch.setenv("JOBU_STATE_DIR", str(tmp_path))
    execution_id = store.execution_insert(NewExecution(handler_name="noop"))
    [claimed] = store.execution_claim("w1", ["default"], 1, 300)
    result = {"rows": ["x" * 100] * 100}
    store.execution_finish_many([FinishedAttempt(
        claimed.id, claimed.lease_token, OutcomeKind.SUCCESS, Status.SUCCESS, result=result)])
    whole = json.dumps(result)

    def show(*options: str) -> str:
        capsys.readouterr()
        assert main(["--config-dir", str(tmp_path), "jobs", "show", str(execution_id),
                     *options]) == 0
        return capsys.readouterr().out

    cut = show()
    assert whole not in cut
    assert f"{whole[:SHOWN_RESULT_CHARS]}… ({len(whole) - SHOWN_RESULT_CHARS:,} characters " \
           "more; --full or --json shows them)" in cut
    assert whole in show("--full")
    assert json.loads(show("--json"))["result"] == result
