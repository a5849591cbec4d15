"""The admin for tests: an app on a test database, a user per role, and signed-in clients.

`AdminSite.make(db_spec, tmp_path)` writes a copy of the shipped configuration naming the
test's database (and a secret key), builds the app with admin.create_app and adds one user
per role; `site.client(role)` is a Flask test client signed in as that role (None: signed
out), and `site.csrf(client)` the token its forms carry.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobu.admin import create_app
from jobu.model import DatabaseSpec
from jobu.operations.users import Role, add_user
from jobu.store import Store
from tests.conftest import spec_url

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "etc" / "jobu"
#: Every test user's password (long enough for MIN_PASSWORD_LENGTH).
PASSWORD = "correct horse battery"
ROLES: list[Role | None] = [None, Role.VIEWER, Role.OPERATOR, Role.ADMIN]


def config_dir(tmp_path: Path, database_url: str, **admin: Any) -> Path:
    """A copy of etc/jobu whose jobs database is `database_url`; `admin` sets admin.yaml keys."""
    directory = tmp_path / "etc-jobu"
    shutil.copytree(SHIPPED_CONFIG, directory, dirs_exist_ok=True)
    database = yaml.safe_load((directory / "database.yaml").read_text())
    database["databases"]["default"] = {"url": database_url, "pool_timeout_seconds": 5,
                                        "connect_timeout_seconds": 2}
    database["state_directory"] = str(tmp_path / "state")
    (directory / "database.yaml").write_text(yaml.safe_dump(database))
    settings = yaml.safe_load((directory / "admin.yaml").read_text())
    settings.update({"secret_key": "test-secret-key-for-signing-sessions", **admin})
    (directory / "admin.yaml").write_text(yaml.safe_dump(settings))
    return directory


@dataclass
class AdminSite:
    app: Any
    store: Store
    directory: Path
    clients: dict[Role | None, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, store: Store, db_spec: DatabaseSpec, tmp_path: Path, **admin: Any) -> AdminSite:
        directory = config_dir(tmp_path, spec_url(db_spec), **admin)
        app = create_app({"JOBU_CONFIG_DIR": directory, "TESTING": True})
        for role in Role:
            add_user(store, role.value, PASSWORD, role)
        return cls(app, store, directory)

    def close(self) -> None:
        self.app.extensions["jobu"]["store"].close()

    def client(self, role: Role | None) -> Any:
        """A test client signed in as the user of `role` (None: nobody), made once."""
        if role not in self.clients:
            client = self.app.test_client()
            if role is not None:
                response = client.post("/login", data={
                    "name": role.value, "password": PASSWORD, "csrf_token": self.csrf(client)})
                assert response.status_code == 302, response.get_data(as_text=True)
                client.jobu_csrf = None  # signing in starts a session with a new token
            self.clients[role] = client
        return self.clients[role]

    @staticmethod
    def csrf(client: Any) -> str:
        """The CSRF token of the client's session (read from the login form or any page)."""
        if getattr(client, "jobu_csrf", None):
            return client.jobu_csrf
        page = client.get("/login").get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if found is None:  # signed in: /login redirects, so read a page's form
            page = client.get("/crons").get_data(as_text=True)
            found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, page[:500]
        client.jobu_csrf = found.group(1)
        return client.jobu_csrf

    def post(self, role: Role | None, url: str, data: dict[str, Any] | None = None,
             **kwargs: Any) -> Any:
        """POST a form as `role`, with the session's CSRF token."""
        client = self.client(role)
        return client.post(url, data={"csrf_token": self.csrf(client), **(data or {})},
                           **kwargs)
