"""Reading jobu's configuration: the YAML files of the configuration directory, their secrets
and the environment, checked once (jobu.config's overview says which files and variables).

`load_config` reports every problem it finds, in all files at once, as one ConfigError with a
line per problem that names the file, the key path and what was expected. This is the only
module of jobu that reads files or the environment for its configuration; the shape of the
configuration is in jobu.config.settings and jobu.config.schemas.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import yaml

from jobu.config.calendarfiles import (
    CALENDARS_DIRECTORY,
    CALENDARS_FILE,
    CalendarFiles,
    declared_calendars,
)
from jobu.config.cronfiles import CRONS_DIRECTORY, CRONS_FILE, CronFiles, declared_crons
from jobu.config.fields import did_you_mean, show
from jobu.config.problems import render_path, validate
from jobu.config.schemas import FILE_SCHEMAS, OBSOLETE_KEYS
from jobu.config.settings import (
    DEFAULT_DATABASES,
    DEFAULT_JOBS_DATABASE,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_STATE_DIRECTORY,
    AdminConfig,
    DispatcherConfig,
    KafkaConfig,
    QueueConfig,
    TopicConfig,
    WorkerConfig,
)
from jobu.errors import ConfigError
from jobu.model import DatabaseSpec

CONFIG_DIR_ENV = "JOBU_CONFIG_DIR"
DATABASE_URL_ENV = "JOBU_DATABASE_URL"
STATE_DIR_ENV = "JOBU_STATE_DIR"
SYSTEM_CONFIG_DIR = Path("/etc/jobu")
CHECKOUT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "etc" / "jobu"
DATABASE_FILE, DISPATCHER_FILE, WORKER_FILE, QUEUE_FILE, ADMIN_FILE = FILE_SCHEMAS
#: The files with a secret only some processes use (load_config's `secrets_of`). database.yaml's
#: passwords are not among them: every process opens the jobs database.
SECRET_FILES = (QUEUE_FILE, ADMIN_FILE)
ENVIRONMENT = "environment"
MASK = "********"

URL_DRIVERS = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql",
               "mariadb": "mysql", "sqlite": "sqlite"}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
POOL_KEYS = ("pool_size", "pool_timeout_seconds", "connect_timeout_seconds",
             "busy_timeout_seconds")
SECRET_KEY_NAME = re.compile(r"pass|secret|token|credential", re.IGNORECASE)
Environ = Mapping[str, str]


@dataclass(frozen=True)
class Config:
    """Everything the configuration says, checked, with its secrets resolved: those of
    database.yaml always, those of queue.yaml and admin.yaml when asked (`secrets_of`).

    The mappings are plain dicts (so a Config can be pickled and copied); treat them as
    read-only like the rest.
    """

    config_dir: Path
    #: database.yaml `state_directory`, or JOBU_STATE_DIR.
    state_dir: Path
    #: Every database of database.yaml, by name.
    databases: Mapping[str, DatabaseSpec]
    #: The database jobu keeps its own tables in (also in `databases`, under its name).
    jobs_database: DatabaseSpec
    dispatcher: DispatcherConfig = field(default_factory=DispatcherConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    #: database.yaml: commit a transaction that writes to several databases unable to
    #: prepare, one after the other, instead of refusing it (jobu.db.commit).
    allow_best_effort_multi_commit: bool = False
    #: crons.yaml and crons.d/*.yaml; None when not read (`load_config(with_crons=False)`).
    crons: CronFiles | None = None
    #: calendars.yaml and calendars.d/*.yaml; None when not read (with the crons only).
    calendars: CalendarFiles | None = None
    #: What an operator should change though nothing is wrong (an obsolete key), a line
    #: each: the daemons log them as warnings at start, `jobu check-config` prints them.
    notices: tuple[str, ...] = ()


class _Problems:
    """The problems found so far, one line each, as ConfigError will show them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, source: str, key: str, message: str) -> None:
        self.lines.append(f"{source}: {key}: {message}" if key else f"{source}: {message}")

    def by_file(self) -> list[str]:
        """The lines grouped by file, in FILE_SCHEMAS order, then the environment's."""
        order = {source: index for index, source in enumerate([*FILE_SCHEMAS, ENVIRONMENT])}
        return sorted(self.lines, key=lambda line: order.get(line.partition(":")[0], len(order)))


class _InvalidKeyError(Exception):
    """What is wrong with one key, raised by a helper that does not know which file it is in."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


# --- the public functions ------------------------------------------------------------------------


def default_config_dir(environ: Environ | None = None) -> Path:
    """JOBU_CONFIG_DIR if set; else /etc/jobu if it exists; else this checkout's etc/jobu if it
    exists (running from a source tree); else /etc/jobu."""
    environ = os.environ if environ is None else environ
    if environ.get(CONFIG_DIR_ENV):
        return Path(environ[CONFIG_DIR_ENV])
    for candidate in (SYSTEM_CONFIG_DIR, CHECKOUT_CONFIG_DIR):
        if candidate.is_dir():
            return candidate
    return SYSTEM_CONFIG_DIR


def load_config(config_dir: str | Path | None = None, environ: Environ | None = None, *,
                worker_file: str | Path | None = None, with_crons: bool = False,
                secrets_of: Collection[str] = SECRET_FILES) -> Config:
    """Reads and checks every file of `config_dir` (default: `default_config_dir`).

    Raises ConfigError listing every problem found, across all files. A directory given here or
    by JOBU_CONFIG_DIR must exist; the default one may be missing (everything at its default).
    `worker_file` replaces worker.yaml (an extra pool, jobu-worker@NAME: worker-NAME.yaml);
    relative to the directory, and it must exist. `with_crons` reads and checks crons.yaml
    and crons.d/*.yaml too (Config.crons), and calendars.yaml and calendars.d/*.yaml
    (Config.calendars): only the processes that apply them need them.
    `secrets_of` names the files whose secrets given as `*_env` or `*_file` are read (and an
    unset variable or unreadable file reported): queue.yaml's SASL password is jobu-queued's,
    admin.yaml's secret key the admin's; in the other files of SECRET_FILES such a secret is
    None, so that `jobu enqueue` runs where the queue's password variable is not set.
    """
    environ = os.environ if environ is None else environ
    directory = _config_directory(config_dir, environ)
    problems = _Problems()
    paths = {name: directory / name for name in FILE_SCHEMAS}
    if worker_file is not None:
        paths[WORKER_FILE] = directory / worker_file
        if not paths[WORKER_FILE].is_file():
            raise ConfigError(f"{paths[WORKER_FILE]}: the worker file does not exist")
    sources = {name: path.name for name, path in paths.items()}
    _report_misnamed_files(directory, problems)
    documents = {name: _read_yaml(path, problems) for name, path in paths.items()}
    loaded = {name: _validated(name, document, problems, sources[name])
              for name, document in documents.items()}
    notices = tuple(_take_obsolete_keys(loaded, sources))
    state_dir = _state_dir(loaded[DATABASE_FILE], environ, problems)
    databases = _databases(loaded[DATABASE_FILE], state_dir, directory, environ, problems)
    names = _declared_database_names(documents[DATABASE_FILE])
    jobs_database = _jobs_database(loaded[DATABASE_FILE], databases, names, state_dir, environ,
                                   problems)
    names += [name for name in databases if name not in names]
    dispatcher = _dispatcher(loaded[DISPATCHER_FILE])
    worker = _worker(loaded[WORKER_FILE], names, directory, problems, sources[WORKER_FILE])
    queue = _queue(loaded[QUEUE_FILE], directory, environ, problems,
                   with_secret=QUEUE_FILE in secrets_of)
    admin = _admin(loaded[ADMIN_FILE], directory, environ, problems,
                   with_secret=ADMIN_FILE in secrets_of)
    crons = _cron_files(directory, dispatcher, problems) if with_crons else None
    calendars = _calendar_files(directory, problems) if with_crons else None
    if problems.lines or jobs_database is None:
        raise ConfigError(problems.by_file())
    return Config(config_dir=directory, state_dir=state_dir, databases=databases,
                  jobs_database=jobs_database, dispatcher=dispatcher, worker=worker, queue=queue,
                  admin=admin, allow_best_effort_multi_commit=loaded[DATABASE_FILE].get(
                      "allow_best_effort_multi_commit", False), crons=crons,
                  calendars=calendars, notices=notices)


def parse_database_url(url: str, name: str = "jobs", *,
                       state_dir: str | Path | None = None) -> DatabaseSpec:
    """The DatabaseSpec a database URL describes; raises ConfigError when it describes none.

    Forms: ``postgresql://user:password@host:port/dbname?option=value`` (also ``postgres://``),
    ``mysql://…`` (also ``mariadb://``), and SQLite as SQLAlchemy writes it:
    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``.
    Percent-escapes are decoded (a password with ``@`` or ``/`` must be written with them);
    the query string becomes `options`. A relative SQLite path is joined to `state_dir` when one
    is given, and kept relative otherwise.
    """
    try:
        return _spec_from_url(url, name, Path(state_dir) if state_dir is not None else None)
    except ValueError as error:
        raise ConfigError(f"database URL {mask_url_password(url)!r}: {error}") from None


def describe_config(config: Config) -> dict[str, Any]:
    """A JSON-serialisable view of `config` for `jobu check-config`, every secret masked."""
    return _plain(config)


def mask_url_password(url: str) -> str:
    """`url` with the password of its user part, if any, replaced by ********."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority_end = min([index for index in map(rest.find, "/?#") if index >= 0] + [len(rest)])
    user_part, at, host_part = rest[:authority_end].rpartition("@")
    if not at or ":" not in user_part:
        return url
    user = user_part.partition(":")[0]
    return f"{scheme}://{user}:{MASK}@{host_part}{rest[authority_end:]}"


# --- reading the files ---------------------------------------------------------------------------


def _config_directory(config_dir: str | Path | None, environ: Environ) -> Path:
    explicit = config_dir is not None or bool(environ.get(CONFIG_DIR_ENV))
    directory = Path(config_dir) if config_dir is not None else default_config_dir(environ)
    directory = directory.absolute()
    if explicit and not directory.is_dir():
        raise ConfigError(f"{directory}: the config directory does not exist")
    return directory


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that notes duplicate keys, which PyYAML otherwise resolves silently by
    keeping the last: an old value left above a new one must not win by accident."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, Any, int]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` overrides on purpose
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = first_lines.setdefault(key, line)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if first != line:
                self.duplicates.append((line, key, first))
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """An unquoted date or time, refused with its line when it has no such day
        (2026-02-30), where PyYAML would raise a bare ValueError."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as error:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date: {error}",
                node.start_mark) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp",
                                 _UniqueKeyLoader.construct_yaml_timestamp)


def _read_yaml(path: Path, problems: _Problems, source: str | None = None) -> dict[Any, Any]:
    """The mapping at the top of file `path`; {} when it is absent, empty or broken.
    Problems name the file as `source` (default: its name)."""
    source = source or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        problems.add(source, "", f"cannot read {path}: {getattr(error, 'strerror', error)}")
        return {}
    loader = _UniqueKeyLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = ", ".join(part for part in (error.context, error.problem) if part)
        problems.add(source, where, f"not valid YAML: {reason}")
        return {}
    except yaml.YAMLError as error:
        problems.add(source, "", f"not valid YAML: {error}")
        return {}
    finally:
        loader.dispose()
    for line, key, first in loader.duplicates:
        problems.add(source, f"line {line}", f"duplicate key {key!r} (first at line {first})")
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.add(source, "", "expected a mapping of keys to values at the top level, "
                                    f"got {show(document)}")
        return {}
    return document


def _validated(name: str, document: Mapping[Any, Any], problems: _Problems,
               source: str) -> dict[str, Any]:
    """What is valid of `document` by its file's schema; the rest goes to `problems`."""
    values, found = validate(FILE_SCHEMAS[name](), document)
    for key, message in found:
        problems.add(source, key, message)
    return values


# --- files jobu does not read ---------------------------------------------------------------------


def _take_obsolete_keys(loaded: dict[str, dict[str, Any]],
                        sources: Mapping[str, str]) -> Iterator[str]:
    """Removes the OBSOLETE_KEYS a file sets from what was loaded, and says why of each."""
    for name, keys in OBSOLETE_KEYS.items():
        for key, why in keys.items():
            if loaded[name].pop(key, None) is not None:
                yield f"{sources[name]}: {key}: {why}"


def _report_misnamed_files(directory: Path, problems: _Problems) -> None:
    """A YAML file whose name is close to one jobu reads (workers.yaml, worker.yml) is a problem:
    left alone, its settings would be silently ignored. Extra pools' worker-NAME.yaml files
    and files of other names are not jobu's business."""
    known = [*FILE_SCHEMAS, CRONS_FILE, CALENDARS_FILE]
    try:
        names = sorted(path.name for path in directory.iterdir() if path.is_file())
    except OSError:
        return  # an unreadable directory is reported where its files are read
    for name in names:
        stem, dot, suffix = name.rpartition(".")
        if name in known or suffix not in ("yaml", "yml") or not dot:
            continue
        if suffix == "yaml" and stem.startswith("worker-"):
            continue
        wanted = f"{stem}.yaml" if f"{stem}.yaml" in known else None
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if wanted or close:
            problems.add(name, "", f"jobu reads no file of this name, so its settings would be "
                                   f"ignored; did you mean {wanted or close[0]!r}? Rename it, "
                                   f"or move it out of {directory}")


# --- crons.yaml and crons.d/*.yaml ---------------------------------------------------------------


def _cron_files(directory: Path, dispatcher: DispatcherConfig, problems: _Problems) -> CronFiles:
    """The crons of crons.yaml and of crons.d/*.yaml (in name order), each problem with its
    file, key and line. A cron declared in two files is a problem: one file owns each cron."""
    now = datetime.now(UTC)
    paths, crons = _declared_in_files(
        directory, CRONS_FILE, CRONS_DIRECTORY, "crons", "cron", problems,
        lambda path, document: declared_crons(
            path, document, default_timezone=dispatcher.timezone,
            min_interval_seconds=dispatcher.min_cron_interval_seconds, now=now),
        lambda declared: declared.spec.name)
    return CronFiles(paths=paths, crons=crons)


def _declared_in_files(directory: Path, file_name: str, folder_name: str, section: str,
                       kind: str, problems: _Problems,
                       parse: Callable[[str, Any], tuple[list[Any], list[tuple[str, str]]]],
                       name_of: Callable[[Any], str]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """What `file_name` and `folder_name`/*.yaml declare under `section` (crons, calendars):
    the files read and the declarations, parsed by `parse(path, document)` into (found,
    problems by key). Each problem gets its file, key and line; a `kind` declared in two
    files is a problem, naming the first one."""
    read, items, first_seen = [], [], {}
    for path in _declaring_files(directory, file_name, folder_name, problems):
        if not path.is_file():
            continue
        source = str(path.relative_to(directory))
        lines = _key_lines(path)
        found, wrong = parse(str(path), _read_yaml(path, problems, source))
        for key, message in wrong:
            problems.add(source, _with_line(key, lines), message)
        for declared in found:
            name = name_of(declared)
            key = render_path((section, name))
            if name in first_seen:
                problems.add(source, _with_line(key, lines),
                             f"{kind} {name!r} is declared in {first_seen[name]} too; "
                             f"declare each {kind} in one file")
                continue
            first_seen[name] = (f"{source} line {lines[key]}" if key in lines else source)
            items.append(declared)
        read.append(str(path))
    return tuple(read), tuple(items)


def _declaring_files(directory: Path, file_name: str, folder_name: str,
                     problems: _Problems) -> list[Path]:
    """`file_name` and the *.yaml files of `folder_name` (in name order), present or not; a
    *.yml file in the folder is a problem, since it would be ignored."""
    paths = [directory / file_name]
    folder = directory / folder_name
    if folder.is_dir():
        paths += sorted(folder.glob("*.yaml"))
        for misnamed in sorted(folder.glob("*.yml")):
            problems.add(f"{folder_name}/{misnamed.name}", "",
                         f"jobu reads only *.yaml files in {folder_name}; rename it to "
                         f"{misnamed.stem}.yaml")
    return paths


# --- calendars.yaml and calendars.d/*.yaml -------------------------------------------------------


def _calendar_files(directory: Path, problems: _Problems) -> CalendarFiles:
    """The calendars of calendars.yaml and of calendars.d/*.yaml (in name order), each problem
    with its file, key and line. A calendar declared in two files is a problem."""
    paths, calendars = _declared_in_files(
        directory, CALENDARS_FILE, CALENDARS_DIRECTORY, "calendars", "calendar", problems,
        declared_calendars, lambda declared: declared.calendar.name)
    return CalendarFiles(paths=paths, calendars=calendars)


def _key_lines(path: Path) -> dict[str, int]:
    """The line of every key of the YAML file at `path`, by its rendered key path; {} when the
    file cannot be read (_read_yaml says why)."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    lines: dict[str, int] = {}

    def walk(node: yaml.Node | None, key_path: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    inner = (*key_path, key_node.value)
                    lines.setdefault(render_path(inner), key_node.start_mark.line + 1)
                    walk(value_node, inner)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                inner = (*key_path, index)
                lines.setdefault(render_path(inner), item.start_mark.line + 1)
                walk(item, inner)

    walk(root, ())
    return lines


def _with_line(key: str, lines: Mapping[str, int]) -> str:
    """`key` followed by the line it is on, or the line of its nearest enclosing key (a
    required key that is missing is reported at the mapping that lacks it)."""
    candidates = [known for known in lines
                  if key == known or key.startswith((f"{known}.", f"{known}["))]
    if not candidates:
        return key
    return f"{key} (line {lines[max(candidates, key=len)]})"


# --- database.yaml -------------------------------------------------------------------------------


def _state_dir(values: Mapping[str, Any], environ: Environ, problems: _Problems) -> Path:
    override = environ.get(STATE_DIR_ENV)
    if override and not os.path.isabs(override):
        problems.add(ENVIRONMENT, STATE_DIR_ENV, f"expected an absolute path, got {override!r}")
    elif override:
        return Path(override)
    return Path(values.get("state_directory", DEFAULT_STATE_DIRECTORY))


def _databases(values: Mapping[str, Any], state_dir: Path, directory: Path, environ: Environ,
               problems: _Problems) -> dict[str, DatabaseSpec]:
    databases = {}
    for name, entry in values.get("databases", {}).items():
        try:
            databases[name] = _database(name, dict(entry), state_dir, directory, environ)
        except _InvalidKeyError as problem:
            problems.add(DATABASE_FILE, f"databases.{name}.{problem.key}", problem.message)
    return databases


def _database(name: str, entry: dict[str, Any], state_dir: Path, directory: Path,
              environ: Environ) -> DatabaseSpec:
    """One entry of `databases:`, checked by its schema already, as a DatabaseSpec."""
    password = _take_secret(entry, "password", directory, environ)
    settings = {key: entry.pop(key) for key in POOL_KEYS if key in entry}
    options = entry.pop("options", {})
    if "url" in entry:
        try:
            spec = _spec_from_url(entry["url"], name, state_dir)
        except ValueError as error:
            raise _InvalidKeyError("url", str(error)) from None
        if spec.password is not None and password is not None:
            raise _InvalidKeyError("url", "has a password, and a password key is set too; "
                                          "give the secret one way only")
        return dataclasses.replace(spec, password=spec.password or password,
                                   options={**spec.options, **options}, **settings)
    if entry["driver"] == "sqlite":
        entry["path"] = _sqlite_path(entry["path"], state_dir)
    else:
        entry.setdefault("port", DEFAULT_PORTS[entry["driver"]])
    return DatabaseSpec(name=name, password=password, options=dict(options), **entry, **settings)


def _jobs_database(values: Mapping[str, Any], databases: dict[str, DatabaseSpec],
                   declared: list[str], state_dir: Path, environ: Environ,
                   problems: _Problems) -> DatabaseSpec | None:
    """The database `jobs_database` names, or JOBU_DATABASE_URL's (stored under that name, with
    the pool settings the file gives it, if any)."""
    name = values.get("jobs_database", DEFAULT_JOBS_DATABASE)
    url = environ.get(DATABASE_URL_ENV)
    if url:
        try:
            spec = _spec_from_url(url, name, state_dir)
        except ValueError as error:
            problems.add(ENVIRONMENT, DATABASE_URL_ENV, str(error))
            return None
        if name in databases:
            pool = {key: getattr(databases[name], key) for key in POOL_KEYS}
            spec = dataclasses.replace(spec, **pool)
        databases[name] = spec
    elif name not in declared and "jobs_database" in values:
        problems.add(DATABASE_FILE, "jobs_database", f"no database named {name!r} under "
                                                     f"databases{did_you_mean(name, declared)}")
    return databases.get(name)


def _declared_database_names(document: Mapping[Any, Any]) -> list[str]:
    """The names database.yaml declares, valid entries or not: an entry that is broken is
    reported once, for what is wrong with it, not again as unknown by every key naming it."""
    declared = document.get("databases", DEFAULT_DATABASES)
    return [str(name) for name in declared] if isinstance(declared, Mapping) else []


def _spec_from_url(url: str, name: str, state_dir: Path | None) -> DatabaseSpec:
    scheme, separator, _ = url.partition("://")
    driver = URL_DRIVERS.get(scheme.lower()) if separator else None
    if driver is None:
        raise ValueError("expected a URL starting with postgresql://, postgres://, mysql://, "
                         f"mariadb:// or sqlite://, got {mask_url_password(url)!r}")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise ValueError(f"not a valid URL: {error}") from None
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("expected a port from 1 to 65535 after the host")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    if driver == "sqlite":
        return DatabaseSpec(name=name, driver=driver, path=_sqlite_path_from_url(parts, state_dir),
                            options=options)
    if "/" in parts.path[1:]:
        raise ValueError(f"expected /dbname after the host, got {parts.path!r}")
    dbname = unquote(parts.path[1:])
    if not dbname:
        raise ValueError("names no database; add /dbname after the host")
    return DatabaseSpec(name=name, driver=driver, host=_decoded(parts.hostname),
                        port=port or DEFAULT_PORTS[driver], user=_decoded(parts.username),
                        password=_decoded(parts.password), dbname=dbname, options=options)


def _sqlite_path_from_url(parts: SplitResult, state_dir: Path | None) -> str:
    if parts.netloc or not parts.path[1:]:
        raise ValueError("expected sqlite:///relative/path.db, sqlite:////absolute/path.db or "
                         "sqlite:///:memory:")
    return _sqlite_path(unquote(parts.path[1:]), state_dir)


def _sqlite_path(path: str, state_dir: Path | None) -> str:
    """`path` joined to `state_dir` when it is relative (':memory:' stays as it is)."""
    if path == ":memory:" or os.path.isabs(path) or state_dir is None:
        return path
    return str(state_dir / path)


def _decoded(text: str | None) -> str | None:
    return unquote(text) if text else None


# --- secrets -------------------------------------------------------------------------------------


def _take_secret(values: dict[str, Any], key: str, directory: Path,
                 environ: Environ, *, resolve: bool = True) -> str | None:
    """Removes `key`, `key`_file and `key`_env from `values` and returns the secret they give.

    The schema has made sure at most one is set. `key`_env names an environment variable that
    must be set; `key`_file a file (relative to the config directory) whose text, without its
    final line break, is the secret. Without `resolve`, only a secret written in the file
    itself is returned: the variable and the file are left unread.
    """
    inline = values.pop(key, None)
    path, variable = values.pop(f"{key}_file", None), values.pop(f"{key}_env", None)
    if not resolve:
        return inline
    if variable is not None:
        if not environ.get(variable):
            raise _InvalidKeyError(f"{key}_env", f"environment variable {variable} is not set")
        return environ[variable]
    if path is not None:
        file = directory / path
        try:
            secret = file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            raise _InvalidKeyError(f"{key}_file", f"cannot read {file}: "
                                                  f"{getattr(error, 'strerror', error)}") from None
        if not secret:
            raise _InvalidKeyError(f"{key}_file", f"{file} is empty")
        return secret
    return inline


# --- the daemons' files --------------------------------------------------------------------------


def _dispatcher(values: Mapping[str, Any]) -> DispatcherConfig:
    retention = {**DEFAULT_RETENTION_DAYS, **values.get("retention_days", {})}
    return DispatcherConfig(**{**values, "retention_days": retention})


def _worker(values: Mapping[str, Any], database_names: list[str], directory: Path,
            problems: _Problems, source: str = WORKER_FILE) -> WorkerConfig:
    values = dict(values)
    if values.get("databases") is None:
        values["databases"] = tuple(database_names)
    for index, name in enumerate(values["databases"]):
        if name not in database_names:
            problems.add(source, f"databases[{index}]", f"no database named {name!r} in "
                         f"database.yaml{did_you_mean(name, database_names)}")
    paths = tuple(str(directory / path) for path in values.get("handler_paths", ()))
    for index, path in enumerate(paths):
        if not os.path.isdir(path):
            problems.add(source, f"handler_paths[{index}]", f"{path} is not a directory")
    return WorkerConfig(**{**values, "handler_paths": paths})


def _queue(values: Mapping[str, Any], directory: Path, environ: Environ,
           problems: _Problems, *, with_secret: bool) -> QueueConfig:
    values = dict(values)
    kafka = dict(values.pop("kafka", {}))
    try:
        kafka["sasl_password"] = _take_secret(kafka, "sasl_password", directory, environ,
                                              resolve=with_secret)
    except _InvalidKeyError as problem:
        problems.add(QUEUE_FILE, f"kafka.{problem.key}", problem.message)
    topics = {name: TopicConfig(**topic) for name, topic in values.pop("topics", {}).items()}
    return QueueConfig(kafka=KafkaConfig(**kafka), topics=topics, **values)


def _admin(values: Mapping[str, Any], directory: Path, environ: Environ,
           problems: _Problems, *, with_secret: bool) -> AdminConfig:
    values = dict(values)
    try:
        values["secret_key"] = _take_secret(values, "secret_key", directory, environ,
                                            resolve=with_secret)
    except _InvalidKeyError as problem:
        problems.add(ADMIN_FILE, problem.key, problem.message)
    return AdminConfig(**values)


# --- describe_config -----------------------------------------------------------------------------


def _plain(value: Any, key: str = "") -> Any:
    """`value` as JSON types; a scalar under a secret-sounding key, and the password inside any
    URL, replaced by ********."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {spec.name: _plain(getattr(value, spec.name), spec.name)
                for spec in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {_plain(name): _plain(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    if value is not None and SECRET_KEY_NAME.search(key):
        return MASK
    return mask_url_password(value) if isinstance(value, str) else value
