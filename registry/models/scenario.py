"""Allocation scenarios: the question a leader asks the engine, and each time it was answered."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import UTCDateTime, enum_column, utcnow
from registry.models.need import NeedIndexDefinition
from registry.models.user import User
from registry.vocabulary import LabelledEnum, add_labels


class WeightRule(LabelledEnum):
    ENROLLMENT_X_NEED = "enrollment_x_need"
    NEED = "need"
    ENROLLMENT = "enrollment"


class Objective(LabelledEnum):
    PROPORTIONAL = "proportional"
    MAXMIN = "maxmin"


class SolverChoice(LabelledEnum):
    HIGHS = "highs"
    CBC = "cbc"


class RunStatus(LabelledEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.DONE, RunStatus.FAILED, RunStatus.TIMED_OUT)


class RunStage(LabelledEnum):
    """How far a run has come, for its progress line."""

    WAITING = "waiting"
    BUILDING = "building"  # a worker took the run and builds its problem from the registry
    SOLVING = "solving"
    FINISHED = "finished"


class EngineStatus(LabelledEnum):
    """What the allocation engine said about its answer (its result file's `status`).

    The engine's top-level status has only ever been one of these (a category's
    own ``no_solution`` of older results never reached it), so stored runs need
    no migration; an unknown value is shown as it is (`engine_status_label`).
    """

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"


add_labels(
    (
        (RunStage.WAITING, _l("Waiting for a worker")),
        (RunStage.BUILDING, _l("Building the problem")),
        (RunStage.SOLVING, _l("Solving the categories")),
        (RunStage.FINISHED, _l("Finished")),
        (WeightRule.ENROLLMENT_X_NEED, _l("Enrollment × need")),
        (WeightRule.NEED, _l("Need alone")),
        (WeightRule.ENROLLMENT, _l("Enrollment alone")),
        (Objective.PROPORTIONAL, _l("Share by need (proportional)")),
        (Objective.MAXMIN, _l("Lift the floor (max–min)")),
        (SolverChoice.HIGHS, _l("HiGHS")),
        (SolverChoice.CBC, _l("CBC")),
        (RunStatus.QUEUED, _l("Queued")),
        (RunStatus.RUNNING, _l("Running")),
        (RunStatus.DONE, _l("Done")),
        (RunStatus.FAILED, _l("Failed")),
        (RunStatus.TIMED_OUT, _l("Timed out")),
        (EngineStatus.OPTIMAL, _l("Optimal")),
        (EngineStatus.TIME_LIMIT, _l("Best found within the time limit")),
        (EngineStatus.INFEASIBLE, _l("No allocation meets every rule")),
    )
)


# Seats per student, per category, of a new scenario.
DEFAULT_SATURATION = Decimal(1)


class Scenario(Model):
    """A named allocation question: which schools, services and rules, solved how."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    school_year: Mapped[str] = mapped_column(String(7), index=True)
    need_definition_id: Mapped[int | None] = mapped_column(
        ForeignKey("need_index_definition.id", ondelete="SET NULL"), index=True
    )
    weight_rule: Mapped[WeightRule] = mapped_column(
        enum_column(WeightRule), default=WeightRule.ENROLLMENT_X_NEED
    )
    # Schools whose need index is below this are not eligible (0 = no threshold).
    need_threshold: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal(0))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = all
    service_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # empty = all in scope
    require_service_area: Mapped[bool] = mapped_column(default=True)
    # This year's active commitments are held as locks, so every proposed line is
    # adoptable; off, they are taken off the capacities instead.
    keep_commitments_as_locks: Mapped[bool] = mapped_column(default=True)
    # Per school and category, units per enrolled student in the grades a service
    # serves (seat-counted services only); None = no saturation bound.
    # Its default (1) is set on construction, not as a column default: the ORM leaves a
    # None out of an INSERT when the column has a default, so "no bound" could not be saved.
    saturation: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    # [{"school_id": int, "category": str, "unit": str (seats when absent),
    #   "min": float | None, "max": float | None}]
    limits: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    objective: Mapped[Objective] = mapped_column(
        enum_column(Objective), default=Objective.PROPORTIONAL
    )
    solver: Mapped[SolverChoice] = mapped_column(
        enum_column(SolverChoice), default=SolverChoice.HIGHS
    )
    time_limit_s: Mapped[int] = mapped_column(default=60)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    created_by: Mapped[User | None] = relationship()
    # None: the default definition at the time of each run.
    need_definition: Mapped[NeedIndexDefinition | None] = relationship()
    runs: Mapped[list[ScenarioRun]] = relationship(
        back_populates="scenario",
        cascade="all, delete-orphan",
        order_by="ScenarioRun.id.desc()",
    )

    __mapper_args__ = {"version_id_col": version}

    def __init__(self, **values: Any) -> None:
        values.setdefault("saturation", DEFAULT_SATURATION)
        super().__init__(**values)

    def __repr__(self) -> str:
        return f"<Scenario {self.id} {self.name!r}>"


class ScenarioRun(Model):
    """One solve of a scenario: the problem and result files, and how it went."""

    __tablename__ = "scenario_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario_id: Mapped[int] = mapped_column(
        ForeignKey("scenario.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(
        enum_column(RunStatus), default=RunStatus.QUEUED, index=True
    )
    engine_status: Mapped[str | None] = mapped_column(String(20))  # optimal, time_limit, ...
    # A note on the run's way (a stored message: code and parameters, see
    # registry.scenarios.messages), and how far it has come.
    progress: Mapped[str] = mapped_column(String(300), default="")
    stage: Mapped[RunStage] = mapped_column(enum_column(RunStage), default=RunStage.WAITING)
    categories_done: Mapped[int] = mapped_column(default=0)
    categories_total: Mapped[int] = mapped_column(default=0)
    problem_json: Mapped[str | None] = mapped_column(Text)
    result_json: Mapped[str | None] = mapped_column(Text)
    # What the conversion decided beside the problem file: facts per school and
    # service at run time, schools left out and why, commitments not kept as locks.
    report_json: Mapped[str | None] = mapped_column(Text)
    # What the run's pages need of its problem, computed when its result is stored
    # (registry.scenarios.summary); None for runs finished before summaries were kept.
    summary_json: Mapped[str | None] = mapped_column(Text)
    eligible_pairs: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")  # a stored message, like `progress`
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None]
    # The worker running it says it is alive (registry.scenarios.runner.Heartbeat); a run
    # whose heartbeat stopped lost its worker. None: not taken by a worker (or taken
    # before heartbeats were kept).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many times a worker took the run: a run whose worker died is queued again once.
    attempts: Mapped[int] = mapped_column(default=0)

    scenario: Mapped[Scenario] = relationship(back_populates="runs")
    created_by: Mapped[User | None] = relationship()

    @property
    def label(self) -> str:
        return f"{self.scenario.name} · run {self.id}"

    @property
    def engine_status_label(self) -> str:
        """The engine's status in the page's language ("optimal"), not its code."""
        if self.engine_status is None:  # none yet
            return ""
        try:
            return EngineStatus(self.engine_status).label
        except ValueError:  # a status this version does not know
            return self.engine_status

    def __repr__(self) -> str:
        return f"<ScenarioRun {self.id} {self.status.value}>"
