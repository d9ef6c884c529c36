"""Pages for allocation scenarios: define, run, read, compare, export and adopt."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import defer

from registry import unit_of_work
from registry.access import EDITORS, READERS, roles_required
from registry.equity.charts import bar_chart
from registry.exports import (
    Query,
    csv_response,
    download,
    export_format,
    export_response,
    xlsx_response,
)
from registry.extensions import db
from registry.ids import id_arg, to_id
from registry.listing import paginate, search, sort
from registry.models import MOU
from registry.models.scenario import RunStatus, Scenario, ScenarioRun
from registry.pickers.steps import picker_step
from registry.refusals import Refused, show_refusal
from registry.scenarios import adoption, comparison, export, list_export, messages, runner
from registry.scenarios import services as scenario_services
from registry.scenarios.forms import AdoptForm, ScenarioForm
from registry.scenarios.problem import category_label, limit_category
from registry.scenarios.runner import reap_command, summarise_command, worker_command
from registry.scenarios.services import ROWS_PER_PAGE
from registry.vocabulary import Category, Role

bp = Blueprint("scenarios", __name__, url_prefix="/scenarios")
bp.cli.add_command(worker_command)
bp.cli.add_command(reap_command)
bp.cli.add_command(summarise_command)

# Leaders and admins ask the questions; coordinators read the answers and act on them.
PLANNERS = (Role.ADMIN, Role.LEADER)


def _scenario_or_404(scenario_id: int) -> Scenario:
    return db.get_or_404(Scenario, scenario_id)


def _run_or_404(run_id: int, *files: str) -> ScenarioRun:
    """The run, with only the files named ("result_json", ...) loaded with it: the others
    (the problem file is tens of megabytes at state scale) only if something reads them."""
    run = db.session.get(
        ScenarioRun,
        run_id,
        options=[defer(c) for c in runner.BIG_COLUMNS if c.key not in files],
    )
    if run is None:
        abort(404)
    return run


# What the run and compare pages read of a run (its report and problem only for runs without
# a summary).
PAGE_FILES = ("result_json", "summary_json")


@bp.get("/")
@roles_required(*READERS)
def index() -> ResponseReturnValue:
    stmt = search(select(Scenario), request.args.get("q"), Scenario.name)
    year = request.args.get("year", "")
    if year:
        stmt = stmt.where(Scenario.school_year == year)
    stmt, sorting = sort(
        stmt,
        {"name": Scenario.name, "year": Scenario.school_year, "created": Scenario.created_at},
        "-created",
    )
    if fmt := export_format():
        rows = Query(stmt, list_export.rows)
        return export_response(fmt, "scenarios", list_export.COLUMNS, rows)
    years = db.session.scalars(
        select(Scenario.school_year).distinct().order_by(Scenario.school_year.desc())
    ).all()
    return render_template(
        "scenarios/index.html",
        page=paginate(stmt),
        sorting=sorting,
        years=years,
        may_plan=current_user.role in PLANNERS,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*PLANNERS)
def new() -> ResponseReturnValue:
    form = ScenarioForm()
    if picker_step(form):
        return render_template("scenarios/form.html", form=form, scenario=None)
    if form.validate_on_submit():
        try:
            scenario = scenario_services.create_scenario(form.values(), by=current_user)
        except Refused as err:
            show_refusal(err)
        else:
            flash(_("Scenario created."), "success")
            return redirect(url_for("scenarios.detail", scenario_id=scenario.id))
    elif request.method == "GET":
        form.require_service_area.data = True
    form.add_blank_limits()
    status = 400 if request.method == "POST" else 200
    return render_template("scenarios/form.html", form=form, scenario=None), status


@bp.get("/<int:scenario_id>")
@roles_required(*READERS)
def detail(scenario_id: int) -> ResponseReturnValue:
    scenario = _scenario_or_404(scenario_id)
    return render_template(
        "scenarios/detail.html",
        scenario=scenario,
        may_plan=current_user.role in PLANNERS,
        Category=Category,
        category_label=category_label,
        limit_category=limit_category,
    )


@bp.route("/<int:scenario_id>/edit", methods=["GET", "POST"])
@roles_required(*PLANNERS)
def edit(scenario_id: int) -> ResponseReturnValue:
    scenario = _scenario_or_404(scenario_id)
    form = ScenarioForm()
    if picker_step(form):  # the rows posted are shown again, blank ones included
        return render_template("scenarios/form.html", form=form, scenario=scenario)
    if form.validate_on_submit():
        try:
            scenario_services.update_scenario(scenario, form.values(), form.version.data)
        except Refused as err:
            show_refusal(err)
        else:
            flash(
                _("Scenario saved. Earlier runs keep the files they were solved with."), "success"
            )
            return redirect(url_for("scenarios.detail", scenario_id=scenario.id))
    elif request.method == "GET":
        form.fill_from(scenario)
    form.add_blank_limits()
    status = 400 if request.method == "POST" else 200
    return render_template("scenarios/form.html", form=form, scenario=scenario), status


@bp.post("/<int:scenario_id>/run")
@roles_required(*PLANNERS)
def run(scenario_id: int) -> ResponseReturnValue:
    scenario = _scenario_or_404(scenario_id)
    scenario_run = runner.start_run(scenario, by=current_user)
    run_id = scenario_run.id
    # Only after the commit can a worker see the run.
    unit_of_work.after_commit(lambda: runner.hand_over(scenario_run))
    return redirect(url_for("scenarios.run_page", run_id=run_id))


@bp.get("/runs/<int:run_id>")
@roles_required(*READERS)
def run_page(run_id: int) -> ResponseReturnValue:
    scenario_run = _run_or_404(run_id, *PAGE_FILES)
    view = scenario_services.read_run(scenario_run)
    # The scenario's other runs with a result, without their files.
    others = db.session.scalars(
        select(ScenarioRun)
        .where(
            ScenarioRun.scenario_id == scenario_run.scenario_id,
            ScenarioRun.id != run_id,
            ScenarioRun.result_json.is_not(None),
        )
        .options(*(defer(c) for c in runner.BIG_COLUMNS))
        .order_by(ScenarioRun.id.desc())
    ).all()
    drafted_ids = [i for p in request.args.get("drafted", "").split(",") if (i := to_id(p))][:100]
    drafted = db.session.scalars(select(MOU).where(MOU.id.in_(drafted_ids))).all()
    # Big runs have thousands of rows: each table shows one page of them.
    per_page = current_app.config.get("SCENARIO_ROWS_PER_PAGE", ROWS_PER_PAGE)
    school_page, sorting = scenario_services.school_page(
        view, request.args.get("sort"), request.args.get("page", type=int), per_page
    )
    service_page = scenario_services.page_of(
        view.service_rows, request.args.get("services_page", type=int), per_page
    )
    line_page = scenario_services.line_page(
        view, request.args.get("lines_page", type=int), per_page
    )
    return render_template(
        "scenarios/run.html",
        run=scenario_run,
        view=view,
        progress=scenario_services.progress_of(scenario_run),
        summary=scenario_services.category_summary(view),
        weight_rule=scenario_services.weight_rule_label(view),
        school_page=school_page,
        sorting=sorting,
        service_page=service_page,
        line_page=line_page,
        in_words=messages.in_words,
        others=others,
        stalled=runner.stalled(scenario_run),
        silent=runner.silent(scenario_run),
        drafted=drafted,
        may_adopt=current_user.role in EDITORS,
        form=AdoptForm(),
        RunStatus=RunStatus,
        Category=Category,
    )


@bp.get("/runs/<int:run_id>/status.json")
@roles_required(*READERS)
def run_status(run_id: int) -> ResponseReturnValue:
    """How far a run has come, for the run page's progress line (read-only, never cached)."""
    response = jsonify(scenario_services.progress_of(_run_or_404(run_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/runs/<int:run_id>/problem.json")
@roles_required(*READERS)
def problem_file(run_id: int) -> ResponseReturnValue:
    return _json_download(
        _run_or_404(run_id, "problem_json").problem_json, f"scenario-run-{run_id}-problem.json"
    )


@bp.get("/runs/<int:run_id>/result.json")
@roles_required(*READERS)
def result_file(run_id: int) -> ResponseReturnValue:
    return _json_download(
        _run_or_404(run_id, "result_json").result_json, f"scenario-run-{run_id}-result.json"
    )


def _json_download(text: str | None, filename: str) -> Response:
    if not text:
        abort(404)
    return download(text.encode("utf-8"), "application/json", filename)


@bp.get("/runs/<int:run_id>/export.csv")
@roles_required(*READERS)
def export_csv(run_id: int) -> ResponseReturnValue:
    view = scenario_services.read_run(_run_or_404(run_id, *PAGE_FILES))
    name = request.args.get("table", "allocations")
    if name not in export.TABLES or view.result is None:
        abort(404)
    sheet = export.table(view, name)
    return csv_response(f"scenario-run-{run_id}-{name}", sheet.columns, sheet.records)


@bp.get("/runs/<int:run_id>/export.xlsx")
@roles_required(*READERS)
def export_xlsx(run_id: int) -> ResponseReturnValue:
    view = scenario_services.read_run(_run_or_404(run_id, *PAGE_FILES))
    if view.result is None:
        abort(404)
    return xlsx_response(f"scenario-run-{run_id}", export.sheets(view))


@bp.get("/runs/<int:run_id>/compare")
@roles_required(*READERS)
def compare(run_id: int) -> ResponseReturnValue:
    scenario_run = _run_or_404(run_id, *PAGE_FILES)
    view = scenario_services.read_run(scenario_run)
    other_id = id_arg("with")
    other_run = (
        db.session.get(
            ScenarioRun,
            other_id,
            options=[defer(ScenarioRun.problem_json)],
        )
        if other_id
        else None
    )
    other = scenario_services.read_run(other_run) if other_run is not None else None
    labels = {
        "status_quo": _("Status quo"),
        "formula": _("Plain formula"),
        "run": _("Run %(id)s", id=scenario_run.id),
        "other": _("Run %(id)s", id=other_run.id) if other_run else "",
    }
    candidates = db.session.scalars(
        select(ScenarioRun)
        .where(ScenarioRun.id != run_id, ScenarioRun.result_json.is_not(None))
        .options(*(defer(c) for c in runner.BIG_COLUMNS))
        .order_by(ScenarioRun.id.desc())
        .limit(200)
    ).all()
    return render_template(
        "scenarios/compare.html",
        run=scenario_run,
        other_run=other_run,
        view=view,
        comparisons=comparison.compare(view, other, labels),
        candidates=candidates,
        chart_series=comparison.chart_series,
        bar_chart=bar_chart,
        Category=Category,
    )


@bp.post("/runs/<int:run_id>/adopt")
@roles_required(*EDITORS)
def adopt(run_id: int) -> ResponseReturnValue:
    scenario_run = _run_or_404(run_id, *PAGE_FILES)
    form = AdoptForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        result = adoption.adopt_lines(scenario_run, form.lines.data or [], by=current_user)
    except Refused as err:
        show_refusal(err)
        return redirect(url_for("scenarios.run_page", run_id=run_id))
    for skipped in result.skipped:
        flash(skipped, "info")
    if result.mous:
        flash(_("%(n)s draft MOUs created.", n=len(result.mous)), "success")
    drafted = ",".join(str(m.id) for m in result.mous)
    return redirect(url_for("scenarios.run_page", run_id=run_id, drafted=drafted or None))
