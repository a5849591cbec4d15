"""/crons: the list, a cron's page, the form that adds or edits one, and the cron actions.

Every change goes through jobu.operations.crons, so the form refuses a value with the
sentence the CLI prints, shown beside the field it is about.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from jobu import operations
from jobu.admin import access
from jobu.admin.charts import duration_chart
from jobu.admin.cron_form import CronForm
from jobu.admin.security import Role, requires
from jobu.admin.views.audit import audited, execution_made, posted_name, renamed_to
from jobu.errors import InvalidInputError, JobuError, NotFoundError
from jobu.model import CatchUp, CronSpec, DstRepeat, Isolation, Status
from jobu.operations.charts_data import recent_runs
from jobu.operations.cron_board import (
    NEVER_RAN,
    SORTS,
    STRIP_RUNS,
    check_cron_query,
    cron_managed_by,
    cron_page,
)
from jobu.operations.crons import spec_of
from jobu.operations.fire_preview import preview_schedule
from jobu.operations.status import served_handlers

bp = Blueprint("crons", __name__)

#: How many fire times a cron's page lists.
NEXT_FIRES = 5


@bp.get("/crons")
def list_page():
    """The crons, filtered (`q`: name or handler; `enabled`: yes or no; `last`: the status
    of the last run, or never), ordered (`sort`: name, next, last) and `page_size` a page
    after the cron named `after`."""
    args = request.args
    query = check_cron_query(text=args.get("q", ""), enabled=args.get("enabled", ""),
                             last_status=args.get("last", ""), sort=args.get("sort", ""),
                             after=args.get("after", ""), page_size=access.page_size())
    page = cron_page(access.store(), access.now(), query)
    filters = {key: args.get(key, "") for key in ("q", "enabled", "last", "sort")}
    return render_template("crons/list.html", page=page, board=page.rows, filters=filters,
                           sorts=SORTS, last_choices=[NEVER_RAN, *(s.value for s in Status)],
                           filtered=any(filters[key] for key in ("q", "enabled", "last")),
                           strip_runs=STRIP_RUNS)


@bp.get("/crons/<name>")
def detail(name: str):
    store = access.store()
    cron = operations.get_cron(store, name)
    before = _cursor(request.args.get("before"))
    history = operations.list_executions(store, cron_name=cron.name, limit=access.page_size(),
                                         before_id=before)
    return render_template(
        "crons/detail.html", cron=cron, stats=operations.job_stats(store, cron.name),
        fires=operations.next_fire_times(cron, access.now(), NEXT_FIRES) if cron.is_enabled
        else [], history=history, managed_by=cron_managed_by(store, cron.name),
        chart=duration_chart(recent_runs(store, cron)))


def _form_page(form: CronForm, *, editing: str | None, status: int = 200, preview=None):
    return render_template(
        "crons/form.html", form=form, editing=editing, handlers=served_handlers(access.store()),
        catch_ups=[c.value for c in CatchUp], dst_repeats=[d.value for d in DstRepeat],
        isolations=[i.value for i in Isolation], force=request.form.get("force") == "on",
        default_timezone=access.rules().default_timezone, preview=preview), status


def _previewed(form: CronForm, *, editing: str | None):
    """The form again, unsaved, with the next fire times of its schedule (the Preview
    button: the preview without JavaScript), or the refusal beside its field."""
    try:
        spec, fires = preview_schedule(access.store(), access.rules(), access.now(),
                                       form.values["schedule"],
                                       form.values["timezone"], form.values["dst_repeat"])
    except JobuError as error:
        form.add_error(error)
        return _form_page(form, editing=editing, status=422)
    return _form_page(form, editing=editing, preview={"zone": spec.timezone, "fires": fires})


@bp.get("/crons/new")
@requires(Role.ADMIN, action=True)
def new_form():
    defaults = CronSpec(name="", schedule="", handler_name="",
                        timezone=access.rules().default_timezone)
    return _form_page(CronForm.of(defaults), editing=None)


@bp.post("/crons/new")
@requires(Role.ADMIN, action=True)
@audited("cron.create", target=posted_name)
def create():
    form = CronForm.posted(request.form)
    if "preview" in request.form:
        return _previewed(form, editing=None)
    try:
        spec = spec_of(form.values["name"], access.rules(), **form.fields())
        # strict: the form shows the refusal beside the handler, and its "force" box.
        cron = operations.add_cron(access.store(), spec, access.rules(), access.clock(),
                                   force=request.form.get("force") == "on", strict=True)
    except JobuError as error:
        if isinstance(error, NotFoundError):
            raise
        form.add_error(error)
        return _form_page(form, editing=None, status=422)
    flash(f"Cron {cron.name} added.")
    return redirect(url_for("crons.detail", name=cron.name))


@bp.get("/crons/<name>/edit")
@requires(Role.ADMIN, action=True)
def edit_form(name: str):
    cron = operations.get_cron(access.store(), name)
    return _form_page(CronForm.of(cron.spec), editing=cron.name)


@bp.post("/crons/<name>/edit")
@requires(Role.ADMIN, action=True)
@audited("cron.edit", target="name", detail=renamed_to)
def update(name: str):
    store = access.store()
    current = operations.get_cron(store, name)
    form = CronForm.posted(request.form)
    if "preview" in request.form:
        return _previewed(form, editing=current.name)
    try:
        spec = spec_of(form.values["name"], access.rules(), **form.fields())
        changes = {key: value for key, value in vars(spec).items()
                   if getattr(current, key) != value}
        if not changes:
            flash("Nothing changed.")
            return redirect(url_for("crons.detail", name=current.name))
        cron = operations.edit_cron(store, current.name, changes, access.rules(),
                                    access.clock(), force=request.form.get("force") == "on",
                                    strict=True)
    except JobuError as error:
        if isinstance(error, NotFoundError):
            raise
        form.add_error(error)
        return _form_page(form, editing=current.name, status=422)
    flash(f"Cron {cron.name} saved.")
    return redirect(url_for("crons.detail", name=cron.name))


@bp.post("/crons/<name>/enable")
@requires(Role.OPERATOR, action=True)
@audited("cron.enable", target="name")
def enable(name: str):
    cron = operations.set_cron_enabled(access.store(), name, True)
    flash(f"Cron {cron.name} enabled.")
    return redirect(_back(cron.name))


@bp.post("/crons/<name>/disable")
@requires(Role.OPERATOR, action=True)
@audited("cron.disable", target="name")
def disable(name: str):
    cron = operations.set_cron_enabled(access.store(), name, False)
    flash(f"Cron {cron.name} disabled: it fires no more until enabled.")
    return redirect(_back(cron.name))


@bp.post("/crons/<name>/run")
@requires(Role.OPERATOR, action=True)
@audited("cron.run", target="name", detail=execution_made)
def run_now(name: str):
    cron, execution_id = operations.run_cron_now(access.store(), name, access.clock())
    flash(f"Cron {cron.name} enqueued as job {execution_id}.")
    return redirect(url_for("jobs.detail", execution_id=execution_id))


@bp.get("/crons/<name>/delete")
@requires(Role.ADMIN, action=True)
def confirm_delete(name: str):
    cron = operations.get_cron(access.store(), name)
    return render_template("crons/delete.html", cron=cron)


@bp.post("/crons/<name>/delete")
@requires(Role.ADMIN, action=True)
@audited("cron.delete", target="name")
def delete(name: str):
    operations.remove_cron(access.store(), name)
    flash(f"Cron {name} removed; its executions stay in the history.")
    return redirect(url_for("crons.list_page"))


def _back(name: str) -> str:
    """Where an action returns: the page it was asked from, when that is one of ours."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("crons.detail", name=name)


def _cursor(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInputError(f"before must be an execution id, got {text!r}")
    return int(text)
