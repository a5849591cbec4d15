"""The admin's /health and /ready on every database: /health answers 200 while the process
does; /ready is 200 when the jobs database is usable, 503 with the reason when not."""

from __future__ import annotations

import os
import stat

import yaml

from jobu.admin import create_app
from tests.conftest import spec_url
from tests.support.admin_site import config_dir


def test_ready_on_a_migrated_database(store, db_spec, tmp_path):
    app = create_app({"JOBU_CONFIG_DIR": config_dir(tmp_path, spec_url(db_spec)),
                      "TESTING": True})
    response = app.test_client().get("/ready")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready" and body["database_time"] and body["version"]
    app.extensions["jobu"]["store"].close()


def test_not_ready_while_the_schema_is_behind_and_says_why(db_spec, tmp_path):
    app = create_app({"JOBU_CONFIG_DIR": config_dir(tmp_path, spec_url(db_spec)),
                      "TESTING": True})
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert "jobu migrate" in response.get_json()["error"]
    assert client.get("/health").status_code == 200  # alive all the same
    app.extensions["jobu"]["store"].close()


def test_not_ready_while_the_database_is_down_but_alive(tmp_path):
    app = create_app({"JOBU_CONFIG_DIR": config_dir(
        tmp_path, "postgresql://jobu:x@127.0.0.1:1/jobu"), "TESTING": True})
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert response.get_json()["error"]
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["status"] == "ok" and health.get_json()["version"]
    app.extensions["jobu"]["store"].close()


def test_health_needs_no_sign_in_and_a_missing_secret_key_is_generated_once(store, db_spec,
                                                                           tmp_path):
    directory = config_dir(tmp_path, spec_url(db_spec))
    settings = yaml.safe_load((directory / "admin.yaml").read_text())
    del settings["secret_key"]
    (directory / "admin.yaml").write_text(yaml.safe_dump(settings))
    (tmp_path / "state").mkdir()
    first = create_app({"JOBU_CONFIG_DIR": directory, "TESTING": True})
    second = create_app({"JOBU_CONFIG_DIR": directory, "TESTING": True})
    key_file = tmp_path / "state" / "admin-secret-key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert first.test_client().get("/health").status_code == 200
    assert first.test_client().get("/ready").status_code == 200
    for app in (first, second):
        app.extensions["jobu"]["store"].close()


def test_a_worker_that_loses_the_race_to_make_the_secret_key_keeps_the_winners(
        tmp_path, monkeypatch):
    """gunicorn's workers start together: one that found no key file, and then finds the file
    made by another, uses that key instead of failing (or of signing with its own)."""
    from types import SimpleNamespace

    from jobu.admin import security
    config = SimpleNamespace(admin=SimpleNamespace(secret_key=None), state_dir=str(tmp_path))
    winner = security.secret_key(config)
    monkeypatch.setattr(security.Path, "exists", lambda self: False)  # the check came first
    assert security.secret_key(config) == winner
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin-secret-key"]
