"""The admin's /health on every database: 200 when usable, 503 with the reason when not."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from admin import create_app
from tests.conftest import spec_url

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"


def config_dir(tmp_path: Path, database_url: str) -> Path:
    directory = tmp_path / "etc-jobu"
    shutil.copytree(SHIPPED_CONFIG, directory)
    database = yaml.safe_load((directory / "database.yaml").read_text())
    database["databases"]["default"] = {"url": database_url, "pool_timeout_seconds": 1,
                                        "connect_timeout_seconds": 1}
    (directory / "database.yaml").write_text(yaml.safe_dump(database))
    return directory


def test_health_is_ok_on_a_migrated_database(store, db_spec, tmp_path):
    app = create_app({"JOBU_CONFIG_DIR": config_dir(tmp_path, spec_url(db_spec)),
                      "TESTING": True})
    response = app.test_client().get("/health")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok" and body["database_time"] and body["version"]
    app.extensions["jobu"]["store"].close()


def test_health_says_why_when_the_schema_is_behind(db_spec, tmp_path):
    app = create_app({"JOBU_CONFIG_DIR": config_dir(tmp_path, spec_url(db_spec)),
                      "TESTING": True})
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert "jobu migrate" in response.get_json()["error"]
    app.extensions["jobu"]["store"].close()


def test_health_says_why_when_the_database_is_down(tmp_path):
    app = create_app({"JOBU_CONFIG_DIR": config_dir(
        tmp_path, "postgresql://jobu:x@127.0.0.1:1/jobu"), "TESTING": True})
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    app.extensions["jobu"]["store"].close()
