"""Pages for the need index and the equity dashboard."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from registry import district_time, formats
from registry.access import READERS, roles_required
from registry.equity import charts
from registry.equity import reference as reference_rules
from registry.equity import services as equity_services
from registry.equity.forms import (
    CompareForm,
    DashboardForm,
    DefinitionForm,
    NeedSelectionForm,
    ReferenceForm,
    options,
    weight_field_name,
    year_choices,
)
from registry.equity.need_index import INDICATOR_LABELS
from registry.exports import Column, Kind, export_format, export_response
from registry.extensions import db
from registry.listing import MAX_PAGE, Page
from registry.models.need import MissingPolicy, NeedIndexDefinition, Normalisation
from registry.refusals import Refused, show_refusal
from registry.vocabulary import Category, Role, Unit

bp = Blueprint("equity", __name__, url_prefix="/equity")
T = TypeVar("T")

# Leaders and admins decide how need is measured; coordinators read it.
DEFINERS = (Role.ADMIN, Role.LEADER)


def _no_definition_page(heading: str) -> ResponseReturnValue:
    """What a need page says before any need index is defined (no figures made up)."""
    return render_template(
        "equity/no_definition.html", heading=heading, may_define=current_user.role in DEFINERS
    )


def _definition_choices() -> list[SelectChoice]:
    return options((d.id, d.title) for d in equity_services.definitions())


def _years() -> equity_services.YearChoice:
    """The years the selection forms offer (those with data, and this one) and the default."""
    return equity_services.year_choice(district_time.today())


# ---- equity dashboard ---------------------------------------------------------------------


# How many schools a list on the dashboard names before it links to the paged table, and
# how many rows a page of that table holds: no page carries the whole registry.
LISTED = 20
SCHOOLS_PER_PAGE = 50
SCHOOL_TABLES: dict[str, LazyString] = {
    "need": _l("Need, units and target"),
    "mous": _l("MOUs in force per year"),
    "categories": _l("Partners per category"),
    "unpartnered": _l("Schools with no partner"),
}


def _page_number() -> int:
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


def _page_of(rows: list[T]) -> Page[T]:
    """The page of a list computed whole (need is relative: every school is scored)."""
    number = _page_number()
    start = (number - 1) * SCHOOLS_PER_PAGE
    return Page(rows[start : start + SCHOOLS_PER_PAGE], number, SCHOOLS_PER_PAGE, len(rows))


def _selection_form(default: NeedIndexDefinition) -> DashboardForm:
    years = _years()
    form = DashboardForm(
        formdata=request.args, data={"year": years.default, "definition": default.id}
    )
    form.year.choices = year_choices(years.years)
    form.definition.choices = _definition_choices()
    return form


def _selection(form: DashboardForm) -> equity_services.Selection:
    return equity_services.Selection(
        year=form.year.data,
        category=Category(form.category.data) if form.category.data else None,
        unit=Unit(form.unit.data),
    )


def _selection_args(form: DashboardForm) -> dict[str, Any]:
    """The selection as query arguments, for links between the dashboard and its tables."""
    return {
        "year": form.year.data,
        "category": form.category.data or "",
        "unit": form.unit.data,
        "definition": form.definition.data,
    }


@bp.get("/")
@roles_required(*READERS)
def dashboard() -> ResponseReturnValue:
    default = equity_services.opening_definition()
    if default is None:
        return _no_definition_page(_("Equity dashboard"))
    form = _selection_form(default)
    if not form.validate():
        return render_template("equity/dashboard.html", form=form, report=None), 400
    definition = db.session.get(NeedIndexDefinition, form.definition.data)
    report = equity_services.equity_report(
        _selection(form),
        definition,  # type: ignore[arg-type]
        with_matrix=False,  # the dashboard shows the matrix's counts, counted in SQL
    )
    return render_template(
        "equity/dashboard.html",
        form=form,
        report=report,
        charts=_dashboard_charts(report, _selection_args(form)),
        concentration=_concentration_sentence(report),
        caveat=equity_services.need_caveat(report),
        labels=INDICATOR_LABELS,
        listed=LISTED,
        selected=_selection_args(form),
        lacking=equity_services.high_need_lacking(report),
    )


@bp.get("/schools")
@roles_required(*READERS)
def schools() -> ResponseReturnValue:
    """The dashboard's per-school figures, one table and one page at a time."""
    default = equity_services.opening_definition()
    if default is None:
        return _no_definition_page(_("Equity by school"))
    form = _selection_form(default)
    table = request.args.get("table", "need")
    if table not in SCHOOL_TABLES:
        table = "need"
    context: dict[str, Any] = {"form": form, "table": table, "tables": SCHOOL_TABLES}
    if not form.validate():
        return render_template("equity/schools.html", report=None, **context), 400
    selection = _selection(form)
    if table == "mous":
        years = equity_services.mou_years(selection.year)
        page, counts = equity_services.school_mou_page(
            selection.year, years, _page_number(), SCHOOLS_PER_PAGE
        )
        return render_template(
            "equity/schools.html",
            report=None,
            years=years,
            page=page,
            counts=counts,
            chosen=selection,
            **context,
        )
    definition = db.session.get(NeedIndexDefinition, form.definition.data)
    report = equity_services.equity_report(
        selection,
        definition,  # type: ignore[arg-type]
        with_matrix=table == "categories",
    )
    rows: list[Any] = report.without_partner if table == "unpartnered" else report.schools
    page = _page_of(rows)
    return render_template(
        "equity/schools.html", report=report, page=page, chosen=selection, **context
    )


def _concentration_sentence(report: equity_services.EquityReport) -> str:
    """The concentration index in words, or why there is none: never a conclusion made up."""
    ci = report.concentration_index
    if not report.with_need:
        return _("Need is unknown for every school: there is no concentration index.")
    if ci is None:
        return _(
            "No %(unit)s are committed to a school with a need score and students: "
            "there is no concentration index.",
            unit=report.selection.unit.label.lower(),
        )
    lean = (
        _("resources lean to the schools with more need")
        if ci > 0.005
        else _("resources lean to the schools with less need")
        if ci < -0.005
        else _("resources are spread about evenly by need")
    )
    sentence = _(
        "Concentration index %(ci)s: %(lean)s.",
        ci=formats.number(ci, 3, signed=True),
        lean=lean,
    )
    if report.without_need:
        sentence += " " + _(
            "(%(known)s schools with a need score; %(unknown)s without, not counted.)",
            known=formats.integer(report.with_need),
            unknown=formats.integer(report.without_need),
        )
    return sentence


def _dashboard_charts(
    report: equity_services.EquityReport, selected: dict[str, Any]
) -> dict[str, object]:
    charts_by_name: dict[str, object] = {"scatter": None, "shares": None}
    if report.with_need:
        charts_by_name.update(_need_charts(report, selected))
    charts_by_name["trend"] = _trend_chart(report)
    return charts_by_name


def _need_charts(
    report: equity_services.EquityReport, selected: dict[str, Any]
) -> dict[str, object]:
    unit = report.selection.unit.label
    per_student = _("%(unit)s per student", unit=unit.lower())
    table_url = url_for("equity.schools", table="need", **selected)
    scatter = charts.scatter_chart(
        [(s.school.name, s.need, s.per_student) for s in report.schools],
        title=_("%(measure)s against need", measure=per_student.capitalize()),
        x_label=_("Need index"),
        y_label=per_student,
        summary=_concentration_sentence(report),
        listed=LISTED,
        more=Markup('{} <a href="{}">{}</a>').format(
            _("Only the %(n)s neediest schools are listed here.", n=LISTED),
            table_url,
            _("Every school's figures, page by page"),
        ),
    )
    q1, q4 = report.quartiles[0], report.quartiles[3]
    shares = charts.bar_chart(
        [
            (
                _("Share of enrollment"),
                [(_("Q%(n)s", n=q.quartile), q.enrollment_share) for q in report.quartiles],
            ),
            (
                _("Share of units"),
                [(_("Q%(n)s", n=q.quartile), q.resource_share) for q in report.quartiles],
            ),
        ],
        title=_("Each need quartile's share of units and of enrollment"),
        unit=_("share"),
        summary=_(
            "The least needy quarter of schools (Q1) has %(e1)s of students and %(r1)s of "
            "units; the neediest (Q4) has %(e4)s of students and %(r4)s of units.",
            e1=formats.share(q1.enrollment_share),
            r1=formats.share(q1.resource_share),
            e4=formats.share(q4.enrollment_share),
            r4=formats.share(q4.resource_share),
        ),
    )
    return {"scatter": scatter, "shares": shares}


def _trend_chart(report: equity_services.EquityReport) -> object:
    trend = report.trend
    years = list(trend.counts)
    growth = trend.growth_pct
    trend_chart = charts.line_chart(
        [
            (_("MOUs in force"), [(y, trend.counts[y]) for y in years]),
            (_("School–partner pairs"), [(y, trend.pairs[y]) for y in years]),
        ],
        title=_("MOUs in force by school year"),
        unit=_("count"),
        summary=_(
            "%(count)s MOUs in force in %(year)s; %(growth)s on the year before.",
            count=formats.integer(trend.counts.get(report.selection.year, 0)),
            year=report.selection.year,
            growth=formats.pct(growth, signed=True)
            if growth is not None
            else _("no earlier year to compare"),
        ),
    )
    return trend_chart


# ---- need ranking -------------------------------------------------------------------------


def _indicator_labels(names: list[str]) -> str:
    return "; ".join(str(INDICATOR_LABELS.get(n, n)) for n in names)


def _need_columns(indicators: list[str]) -> list[Column[Any]]:
    """The need ranking's export: a school's rank, need and each indicator's contribution."""

    def contribution(name: str) -> Column[Any]:
        return Column(
            LazyString(lambda: _("Contribution: %(indicator)s", indicator=INDICATOR_LABELS[name])),
            lambda r: r.need.contributions.get(name),
            Kind.DECIMAL,
            places=4,
        )

    return [
        Column(_l("Rank"), lambda r: r.need.rank, Kind.INT),
        Column(_l("School ID"), lambda r: r.school.id, Kind.INT),
        Column(_l("DESE code"), lambda r: r.school.dese_code),
        Column(_l("School"), lambda r: r.school.name),
        Column(_l("Enrollment"), lambda r: r.school.enrollment, Kind.INT),
        Column(_l("Need index"), lambda r: r.need.value, Kind.DECIMAL, places=4),
        *(contribution(name) for name in indicators),
        Column(_l("Missing indicators"), lambda r: _indicator_labels(r.need.missing)),
        Column(_l("Median used for"), lambda r: _indicator_labels(r.need.imputed)),
        Column(_l("Excluded"), lambda r: r.need.excluded, Kind.YES_NO),
        Column(_l("Indicators scored on"), lambda r: r.need.scored_on, Kind.INT),
    ]


@bp.get("/need")
@roles_required(*READERS)
def need() -> ResponseReturnValue:
    default = equity_services.opening_definition()
    if default is None:
        return _no_definition_page(_("Need ranking"))
    years = _years()
    form = NeedSelectionForm(
        formdata=request.args, data={"year": years.default, "definition": default.id}
    )
    form.year.choices = year_choices(years.years)
    form.definition.choices = _definition_choices()
    if not form.validate():
        return render_template("equity/need.html", form=form, ranking=None), 400
    definition = db.session.get(NeedIndexDefinition, form.definition.data)
    ranking = equity_services.need_ranking(definition, form.year.data)  # type: ignore[arg-type]
    if fmt := export_format():
        filename = f"need-{definition.name}-v{definition.version}-{ranking.year}"  # type: ignore[union-attr]
        return export_response(fmt, filename, _need_columns(ranking.indicators), ranking.rows)
    return render_template(
        "equity/need.html",
        form=form,
        ranking=ranking,
        labels=INDICATOR_LABELS,
        page=_page_of(ranking.rows),
        listed=LISTED,
    )


@bp.get("/need/compare")
@roles_required(*READERS)
def compare() -> ResponseReturnValue:
    default = equity_services.opening_definition()
    if default is None:
        return _no_definition_page(_("Compare definitions"))
    choices = _definition_choices()
    other = next((c.value for c in choices if c.value != default.id), default.id)
    years = _years()
    form = CompareForm(
        formdata=request.args, data={"year": years.default, "a": default.id, "b": other}
    )
    form.year.choices = year_choices(years.years)
    form.a.choices = choices
    form.b.choices = choices
    if not form.validate():
        return render_template("equity/compare.html", form=form, comparison=None), 400
    comparison = equity_services.compare_definitions(
        db.session.get(NeedIndexDefinition, form.a.data),  # type: ignore[arg-type]
        db.session.get(NeedIndexDefinition, form.b.data),  # type: ignore[arg-type]
        form.year.data,
        float(form.threshold.data if form.threshold.data is not None else 0.56),
    )
    return render_template(
        "equity/compare.html",
        form=form,
        comparison=comparison,
        page=_page_of(comparison.rows),
        listed=LISTED,
    )


# ---- a reference index --------------------------------------------------------------------


@bp.route("/need/reference", methods=["GET", "POST"])
@roles_required(*READERS)
def reference() -> ResponseReturnValue:
    """Set a published index against ours. The upload is read in memory, never stored, and
    the POST writes nothing: saving the fitted weights is the definition form's own POST."""
    default = equity_services.opening_definition()
    if default is None:
        return _no_definition_page(_("Compare with a reference index"))
    form = ReferenceForm()
    form.definition.choices = _definition_choices()
    years = _years()
    form.year.choices = year_choices(years.years)
    if not form.is_submitted():
        form.definition.data = default.id
        form.year.data = years.default
    comparison = None
    if form.validate_on_submit():
        definition = db.session.get(NeedIndexDefinition, form.definition.data)
        raw = form.file.data.read(reference_rules.MAX_BYTES + 1)
        try:
            comparison = equity_services.reference_comparison(
                raw,
                definition,  # type: ignore[arg-type]
                form.year.data,
                form.label.data or "",
                bool(form.higher_is_less.data),
            )
        except Refused as err:
            show_refusal(err, form)
    status = 400 if form.is_submitted() and comparison is None else 200
    return render_template(
        "equity/reference.html",
        form=form,
        comparison=comparison,
        labels=INDICATOR_LABELS,
        may_define=current_user.role in DEFINERS,
    ), status


# ---- need index definitions ---------------------------------------------------------------


@bp.get("/need/definitions")
@roles_required(*READERS)
def definitions() -> ResponseReturnValue:
    return render_template(
        "equity/definitions.html",
        definitions=equity_services.definitions(),
        labels=INDICATOR_LABELS,
        may_define=current_user.role in DEFINERS,
    )


def _input(form: DefinitionForm) -> equity_services.DefinitionInput:
    return equity_services.DefinitionInput(
        name=form.name.data or "",
        description=form.description.data or "",
        weights=form.weights(),
        normalisation=Normalisation(form.normalisation.data),
        missing_policy=MissingPolicy(form.missing_policy.data),
        is_default=bool(form.is_default.data),
    )


@bp.route("/need/definitions/new", methods=["GET", "POST"])
@roles_required(*DEFINERS)
def new_definition() -> ResponseReturnValue:
    form = DefinitionForm()
    if form.validate_on_submit():
        try:
            definition = equity_services.create_definition(_input(form), by=current_user)
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Need index “%(name)s” saved.", name=definition.title), "success")
            return redirect(url_for("equity.need", definition=definition.id))
    status = 400 if form.is_submitted() else 200
    return render_template("equity/definition_form.html", form=form, previous=None), status


@bp.route("/need/definitions/<int:definition_id>/edit", methods=["GET", "POST"])
@roles_required(*DEFINERS)
def edit_definition(definition_id: int) -> ResponseReturnValue:
    previous = db.session.get(NeedIndexDefinition, definition_id)
    if previous is None:
        abort(404)
    form = DefinitionForm()
    if not form.is_submitted():
        form.name.data = previous.name
        form.description.data = previous.description
        form.normalisation.data = previous.normalisation.value
        form.missing_policy.data = previous.missing_policy.value
        form.is_default.data = previous.is_default
        for name in INDICATOR_LABELS:
            form[weight_field_name(name)].data = previous.weights.get(name, 0)
    # The name identifies the series of versions: an edit never renames it.
    form.name.data = previous.name
    if form.validate_on_submit():
        try:
            definition = equity_services.new_version(previous, _input(form), by=current_user)
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(_("Saved as “%(name)s”.", name=definition.title), "success")
            return redirect(url_for("equity.need", definition=definition.id))
    status = 400 if form.is_submitted() else 200
    return render_template("equity/definition_form.html", form=form, previous=previous), status
