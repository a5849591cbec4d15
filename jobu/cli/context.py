"""What every subcommand gets: its arguments, and the configuration and store on demand."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from jobu.config import Config, load_config
from jobu.errors import InvalidInputError
from jobu.store import Store, open_store


class Context:
    """Loads the configuration and opens the store only when a command needs them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = self.load_config()
        return self._config

    def load_config(self) -> Config:
        """Read the configuration afresh (a worker may name its own worker file; the commands
        that apply or check crons.yaml set `with_crons` in their defaults, those that use a
        secret of queue.yaml or admin.yaml name the file in `secrets_of`)."""
        return load_config(self.args.config_dir,
                           worker_file=getattr(self.args, "worker_config", None),
                           with_crons=getattr(self.args, "with_crons", False),
                           secrets_of=getattr(self.args, "secrets_of", ()))

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config.jobs_database)
        return self._store

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: datetime, what: str) -> datetime:
    """An ISO 8601 time (UTC when it names no offset) or an age such as 30m, 2h, 7d."""
    text = text.strip()
    if text and text[:-1].isdigit() and text[-1] in RELATIVE_UNITS:
        try:
            return now - timedelta(seconds=int(text[:-1]) * RELATIVE_UNITS[text[-1]])
        except OverflowError:
            raise InvalidInputError(f"{what} {text!r} reaches too far back") from None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{what} {text!r} is neither an ISO 8601 time (2026-03-01T12:00) nor an age "
            "(30m, 2h, 7d)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
