"""jobu's configuration: the YAML files of /etc/jobu, read and checked once at start-up.

The files, all optional (an absent file means its defaults); the copies in etc/jobu/ document
every key with its meaning, default and unit:

* ``database.yaml``: state_directory, jobs_database, the databases by name, and
  allow_best_effort_multi_commit;
* ``dispatcher.yaml``, ``worker.yaml``, ``queue.yaml``, ``admin.yaml``: one per daemon, each with
  its own ``log_level`` and ``log_format``;
* ``crons.yaml`` and ``crons.d/*.yaml``: crons declared in files, read only when asked
  (`load_config(with_crons=True)`: the dispatcher, `jobu run`, `jobu check-config`);
* ``calendars.yaml`` and ``calendars.d/*.yaml``: business calendars declared in files, read
  with the crons, whose schedules may name them.

Environment variables:

* ``JOBU_CONFIG_DIR``: the directory to read instead of /etc/jobu;
* ``JOBU_DATABASE_URL``: a URL that replaces the connection settings of the jobs database (the
  one database.yaml ``jobs_database`` names); its pool settings still come from the file;
* ``JOBU_STATE_DIR``: replaces database.yaml ``state_directory``, the base of relative SQLite
  paths.

The package, each module with one job (imports point down the list):

* ``loader``: `load_config` and the Config it returns; reads the files, the secrets and the
  environment (the only module that does), and reports every problem at once;
* ``cronfiles``, ``calendarfiles``: the schemas of crons.yaml and calendars.yaml, and what they
  declare (pure);
* ``schemas``: a marshmallow schema per daemon's file, FILE_SCHEMAS and OBSOLETE_KEYS;
* ``rules``: rules between the keys of one mapping;
* ``validators``: checks of one value;
* ``problems``: marshmallow's nested errors as one ``(key path, message)`` per problem;
* ``fields``: the field types, one YAML type each;
* ``settings``: the frozen dataclasses the rest of jobu receives, holding every default.

What the rest of jobu uses is re-exported here.
"""

from jobu.config.calendarfiles import CalendarFiles, DeclaredCalendar
from jobu.config.cronfiles import CronFiles, DeclaredCron
from jobu.config.loader import (
    ADMIN_FILE,
    CHECKOUT_CONFIG_DIR,
    QUEUE_FILE,
    SECRET_FILES,
    Config,
    default_config_dir,
    describe_config,
    load_config,
    mask_url_password,
    parse_database_url,
)
from jobu.config.settings import (
    AdminConfig,
    DispatcherConfig,
    KafkaConfig,
    QueueConfig,
    TopicConfig,
    WorkerConfig,
)

__all__ = [
    "ADMIN_FILE", "CHECKOUT_CONFIG_DIR", "QUEUE_FILE", "SECRET_FILES", "AdminConfig",
    "CalendarFiles", "Config", "CronFiles", "DeclaredCalendar", "DeclaredCron",
    "DispatcherConfig", "KafkaConfig", "QueueConfig", "TopicConfig", "WorkerConfig",
    "default_config_dir", "describe_config", "load_config", "mask_url_password",
    "parse_database_url",
]
