"""Users of jobu-admin: add, remove, list, check a password, issue and look up API tokens.

Passwords are kept as salted scrypt hashes (hashlib, no dependency) and API tokens
as their SHA-256 (a token is long and random, so a fast hash is enough), so the
`admin_users` table gives nothing usable to whoever reads it. The CLI (`jobu admin
user …`) and the admin's sign-in both come here, so a bad name, role or password
is refused with the same sentence.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobu.errors import InvalidInputError, NotFoundError
from jobu.store import Store
from jobu.validation import check_name

__all__ = ["MIN_PASSWORD_LENGTH", "AdminUser", "Role", "add_user", "authenticate",
           "change_password", "find_user", "hash_password", "issue_api_token", "list_users",
           "remove_user", "user_for_api_token", "verify_password"]

#: A shorter password is refused: it would be guessed long before scrypt slowed anyone down.
MIN_PASSWORD_LENGTH = 10
#: scrypt's cost: 2**14 rounds with r=8 take about 16 MiB and 50 ms per check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
#: API tokens start with this, so a leaked one is recognisable in logs and secret scanners.
TOKEN_PREFIX = "jobu_"


class Role(str, enum.Enum):
    """What a user may do in the admin; each role may do everything of the ones before it."""

    VIEWER = "viewer"      # reads every page and the API
    OPERATOR = "operator"  # also runs now, retries, cancels, enables and disables crons
    ADMIN = "admin"        # also adds, edits and removes crons

    def __str__(self) -> str:
        return self.value

    def allows(self, needed: Role) -> bool:
        """True when this role may do what `needed` may."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class AdminUser:
    """A user of the admin, without the secrets."""

    name: str
    role: Role
    created_at: datetime | None
    has_api_token: bool


def parse_role(value: Any) -> Role:
    try:
        return Role(str(value).lower())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"role must be one of {known}, got {value!r}") from None


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, with its parameters, for admin_users."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    """True when `password` hashes to `stored` (a hash_password result)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return kind == "scrypt" and hmac.compare_digest(actual, expected)


#: Checked when a name is unknown, so signing in takes as long whether or not the name exists.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def _check_password(password: Any) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _user(row: dict[str, Any]) -> AdminUser:
    return AdminUser(name=row["name"], role=Role(row["role"]), created_at=row["created_at"],
                     has_api_token=row["api_token_hash"] is not None)


def add_user(store: Store, name: str, password: str, role: Role | str) -> AdminUser:
    """Create a user; AlreadyExistsError if the name is taken."""
    check_name(name, "user name")
    role = parse_role(role)
    store.admin_user_create(name, role.value, hash_password(_check_password(password)))
    return find_user(store, name)


def remove_user(store: Store, name: str) -> None:
    """Remove a user; their sessions and API token stop working at their next request."""
    if not store.admin_user_delete(name):
        raise NotFoundError(f"no admin user named {name!r} (see `jobu admin user list`)")


def change_password(store: Store, name: str, password: str) -> None:
    if not store.admin_user_set_password(name, hash_password(_check_password(password))):
        raise NotFoundError(f"no admin user named {name!r} (see `jobu admin user list`)")


def list_users(store: Store) -> list[AdminUser]:
    return [_user(row) for row in store.admin_user_list()]


def find_user(store: Store, name: str) -> AdminUser | None:
    """The user called `name`, or None."""
    row = store.admin_user_get(name)
    return None if row is None else _user(row)


def authenticate(store: Store, name: str, password: str) -> AdminUser | None:
    """The user when `password` is theirs, else None (the same time either way)."""
    row = store.admin_user_get(name) if isinstance(name, str) else None
    stored = row["password_hash"] if row is not None else _DUMMY_HASH
    if not verify_password(str(password), stored) or row is None:
        return None
    return _user(row)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(store: Store, name: str) -> str:
    """A new API token for the user (replacing any previous one); shown once, kept hashed."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    if not store.admin_user_set_token(name, _token_hash(token)):
        raise NotFoundError(f"no admin user named {name!r} (see `jobu admin user list`)")
    return token


def user_for_api_token(store: Store, token: str) -> AdminUser | None:
    """The user who holds `token`, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = store.admin_user_by_token(_token_hash(token))
    return None if row is None else _user(row)
