"""Applying crons.yaml and crons.d/*.yaml to the database: what the dispatcher does at start
and on SIGHUP.

* A cron of the files that the database lacks is added, enabled unless the file says
  ``enabled: false``.
* One that differs is updated in place (jobu.operations.crons.declare_cron), so its history
  stays with it; one stored as declared is left alone, not even its version changes.
* One that left the files is disabled, never deleted (its history stays, and an operator
  may remove it), and no file manages it any more.

Every cron of the files is marked as managed by its file, which `jobu cron edit` and
`remove` (and the Client and the admin) then refuse to change. Pausing and resuming stay
allowed: an operator's pause survives reloads unless the file says ``enabled:``.
Applying is idempotent, and dispatchers on several hosts with the same files may apply
them at once.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from jobu.clock import Clock
from jobu.config.cronfiles import CronFiles, DeclaredCron
from jobu.errors import CronNotFoundError, InvalidInputError, ScheduleError
from jobu.operations.crons import CronRules, declare_cron
from jobu.store import Store

log = logging.getLogger("jobu.cron_files")


@dataclass
class CronFilesApplied:
    """What applying the files did, by cron name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    #: Crons the files declare that could not be stored (a one-shot whose time has passed
    #: before it was ever added), with the reason.
    refused: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """"2 added, 1 updated, 5 unchanged, 1 disabled, 0 refused"."""
        return (f"{len(self.added)} added, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.disabled)} disabled, "
                f"{len(self.refused)} refused")


def apply_cron_files(store: Store, files: CronFiles, rules: CronRules,
                     clock: Clock) -> CronFilesApplied:
    """Make the database's crons match the files (see the module's docstring)."""
    applied = CronFilesApplied()
    managed = store.cron_managed()
    for declared in files.crons:
        _apply_one(store, declared, managed.get(declared.spec.name), rules, clock, applied)
    declared_names = {declared.spec.name for declared in files.crons}
    for name, source in managed.items():
        if name not in declared_names:
            _release(store, name, source, applied)
    return applied


def _apply_one(store: Store, declared: DeclaredCron, managed_by: str | None, rules: CronRules,
               clock: Clock, applied: CronFilesApplied) -> None:
    spec, name = declared.spec, declared.spec.name
    try:
        before = store.cron_get(name)
    except CronNotFoundError:
        before = None
    # The file's `enabled:` rules when it is written, and when the file takes the cron over
    # (new, added by hand before, or back in the files after it left them: it was disabled).
    keep_enabled = managed_by is not None and not declared.enabled_given
    try:
        after = declare_cron(store, spec, rules, clock, replace_existing=True,
                             keep_enabled=keep_enabled, force=True, managed_by=declared.source)
    except (InvalidInputError, ScheduleError) as error:
        applied.refused[name] = str(error)
        log.warning("%s: cron %s not applied: %s", declared.source, name, error,
                    extra={"cron": name})
        if before is not None and managed_by != declared.source:
            store.cron_set_managed_by(name, declared.source)
        return
    if managed_by != declared.source:
        store.cron_set_managed_by(name, declared.source)
    if before is None:
        applied.added.append(name)
        log.info("%s: added cron %s: %s %s -> %s", declared.source, name, after.schedule,
                 after.timezone, after.handler_name, extra={"cron": name})
    elif after.version != before.version:
        changed = sorted(f.name for f in dataclasses.fields(spec)
                         if getattr(before, f.name) != getattr(after, f.name))
        applied.updated.append(name)
        log.info("%s: updated cron %s (%s)", declared.source, name, ", ".join(changed),
                 extra={"cron": name})
    else:
        applied.unchanged.append(name)
        if managed_by is None:
            log.info("%s: now manages cron %s", declared.source, name, extra={"cron": name})


def _release(store: Store, name: str, source: str, applied: CronFilesApplied) -> None:
    """A cron that left the files: disabled, kept with its history, managed by no file."""
    try:
        store.cron_set_enabled(name, False)
    except CronNotFoundError:
        return  # removed meanwhile (by another dispatcher's apply it cannot be: never deleted)
    store.cron_set_managed_by(name, None)
    applied.disabled.append(name)
    log.info("%s: cron %s left the cron files: disabled (its history is kept; "
             "`jobu cron remove %s` deletes it)", source, name, name, extra={"cron": name})
