"""crons.yaml and crons.d/*.yaml: the crons an operator declares in files, checked.

Operators keep schedules in version-controlled files like every other setting of a Debian
server. Each file holds one mapping, ``crons:``, of cron names to their settings::

    crons:
      nightly-report:
        schedule: "0 3 * * *"
        handler: reports.nightly
        params: {region: eu}

The keys are those of `jobu cron add` (see etc/jobu/crons.yaml). This module is pure: it
turns the documents jobu.config has read into DeclaredCrons, or into problems that name the
file, the key and its line; the dispatcher then applies them (jobu.operations.cron_files).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from jobu.calendars import (
    OnHoliday,
    check_on_holiday_applies,
    compose_schedule,
    validate_calendar_schedule,
)
from jobu.config.fields import (
    BooleanField,
    ChoiceField,
    FloatField,
    IntegerField,
    MappingField,
    ScalarField,
    SectionField,
    TextField,
)
from jobu.config.problems import validate
from jobu.config.schemas import StrictSchema
from jobu.config.validators import above, at_least, between, iana_timezone, job_name
from jobu.errors import InvalidInputError, ScheduleError
from jobu.model import CatchUp, CronSpec, DstRepeat, Isolation
from jobu.validation import INT_MAX

__all__ = ["CRONS_DIRECTORY", "CRONS_FILE", "CronFiles", "DeclaredCron", "declared_crons"]

#: The file of crons in the configuration directory, and the directory of more such files.
CRONS_FILE = "crons.yaml"
CRONS_DIRECTORY = "crons.d"

#: YAML key -> CronSpec field, where the file's word is not the field's (the CLI's words).
FIELD_OF_KEY = {"handler": "handler_name", "params": "handler_params", "enabled": "is_enabled"}


@dataclass(frozen=True)
class DeclaredCron:
    """One cron of a file, as the file says it."""

    spec: CronSpec
    #: The file that declares it (its absolute path): the cron is managed by it.
    source: str
    #: Whether the file says `enabled:`. If not, a new cron starts enabled and an operator's
    #: pause or resume of it survives reloads; if so, the file decides at every reload.
    enabled_given: bool


@dataclass(frozen=True)
class CronFiles:
    """Every cron the files declare, and which files were read (none: no crons.yaml)."""

    paths: tuple[str, ...] = ()
    crons: tuple[DeclaredCron, ...] = ()


def json_object(value: Mapping[str, Any]) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValidationError(f"must hold only JSON values (strings, numbers, true/false, "
                              f"null, lists, mappings): {error}") from None


class ParamsField(MappingField):
    """The handler's parameters: a mapping with string keys and any JSON values."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=TextField(), values=AnyField(), validate=json_object, **kwargs)


class AnyField(ScalarField):
    expected = "a value"

    def accepts(self, value: Any) -> bool:
        return True


class CronEntrySchema(StrictSchema):
    """One cron under `crons:`. Absent keys take jobu.model.CronSpec's defaults, except
    timezone, whose default is dispatcher.yaml's `timezone`."""

    schedule = TextField(required=True)
    handler = TextField(required=True, validate=job_name)
    params = ParamsField()
    description = TextField()
    timezone = TextField(validate=iana_timezone)
    enabled = BooleanField()
    allow_overlap = BooleanField()
    catch_up = ChoiceField(tuple(c.value for c in CatchUp))
    misfire_grace_seconds = IntegerField(validate=between(0, INT_MAX))
    catch_up_max_runs = IntegerField(validate=between(1, INT_MAX))
    dst_repeat = ChoiceField(tuple(d.value for d in DstRepeat))
    jitter_seconds = IntegerField(validate=between(0, INT_MAX))
    max_retry = IntegerField(validate=between(0, INT_MAX))
    retry_backoff_seconds = FloatField(validate=at_least(0))
    timeout_seconds = FloatField(validate=above(0))
    priority = IntegerField(validate=between(-INT_MAX, INT_MAX))
    queue = TextField(validate=job_name)
    isolation = ChoiceField(tuple(i.value for i in Isolation))
    #: A business calendar (jobu.calendars) and what a tick on its non-working days does.
    calendar = TextField(validate=job_name)
    on_holiday = ChoiceField(tuple(rule.value for rule in OnHoliday))


class CronFileSchema(StrictSchema):
    """crons.yaml, or one file of crons.d."""

    crons = MappingField(keys=TextField(validate=job_name), values=SectionField(CronEntrySchema),
                         load_default=dict)


def declared_crons(source: str, document: Mapping[Any, Any], *, default_timezone: str,
                   min_interval_seconds: float, now: datetime
                   ) -> tuple[list[DeclaredCron], list[tuple[str, str]]]:
    """The crons of one file, and ``(key path, message)`` per problem found in it.

    Every schedule is parsed (and held to `min_interval_seconds`, as `jobu cron add` does).
    A one-shot whose time has passed is not a problem of the file: it was declared, it ran
    (or was missed), and the dispatcher leaves it as it is.
    """
    values, problems = validate(CronFileSchema(), document)
    crons = []
    for name, entry in values.get("crons", {}).items():
        fields = {FIELD_OF_KEY.get(key, key): value for key, value in entry.items()}
        fields.setdefault("timezone", default_timezone)
        calendar, on_holiday = fields.pop("calendar", None), fields.pop("on_holiday", None)
        for choice, kind in (("catch_up", CatchUp), ("dst_repeat", DstRepeat),
                             ("isolation", Isolation)):
            if choice in fields:
                fields[choice] = kind(fields[choice])
        try:
            fields["schedule"] = compose_schedule(fields["schedule"], calendar, on_holiday)
            spec = CronSpec(name=name, **fields)
            check_on_holiday_applies(spec.schedule)
            validate_calendar_schedule(spec.schedule, spec.timezone, min_interval_seconds, now,
                                       spec.dst_repeat)
        except (ScheduleError, InvalidInputError) as error:
            problems.append((f"crons.{name}.schedule", str(error)))
            continue
        crons.append(DeclaredCron(spec, source, enabled_given="enabled" in entry))
    return crons, problems
