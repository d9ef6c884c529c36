"""Need index definitions: which indicators count, how much, and how they are normalised."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import UTCDateTime, enum_column, utcnow

if TYPE_CHECKING:
    from registry.models.user import User


class Normalisation(enum.StrEnum):
    """How raw indicator percentages are put on a common 0–1 scale."""

    PERCENTILE = "percentile"
    MINMAX = "minmax"


# The name and description the registry gives the default index it creates (stored in
# English, as written; shown in the reader's language, see NeedIndexDefinition.shown_name).
DEFAULT_NAME = "District need index"
# What DESE publishes for every school (low income / economically disadvantaged, English
# learners, students with disabilities), with high needs and chronic absence where present:
# a school is scored on the ones it has (renormalise), so partial public reports still score.
DEFAULT_DESCRIPTION = (
    "The DESE indicators, equally weighted, each as a percentile rank within the district: "
    "low income / economically disadvantaged, English learners and students with "
    "disabilities, which DESE publishes for every school, with high needs and chronic "
    "absence where present. A school missing some is scored on those it has, its weights "
    "re-scaled over them, and flagged."
)


class MissingPolicy(enum.StrEnum):
    """What happens to a school that lacks a counted indicator."""

    EXCLUDE = "exclude"
    MEDIAN = "median"
    RENORMALISE = "renormalise"  # weights re-scaled over the indicators the school has


class NeedIndexDefinition(Model):
    """One version of a named need index.

    Versions are immutable: editing a definition adds a row with the next
    version, so scenarios run on an older version can still be reproduced.
    """

    __tablename__ = "need_index_definition"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(default=1)
    description: Mapped[str] = mapped_column(Text, default="")
    # indicator attribute name (registry.models.school.INDICATORS) → weight > 0
    weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    normalisation: Mapped[Normalisation] = mapped_column(
        enum_column(Normalisation), default=Normalisation.PERCENTILE
    )
    missing_policy: Mapped[MissingPolicy] = mapped_column(
        enum_column(MissingPolicy), default=MissingPolicy.EXCLUDE
    )
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    created_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("name", "version"),)

    @property
    def shown_name(self) -> str:
        """The name as a page shows it: the default index's, which the registry wrote, in
        the reader's language; a name a person gave, as typed."""
        return _("District need index") if self.name == DEFAULT_NAME else self.name

    @property
    def shown_description(self) -> str:
        """Likewise the description."""
        if self.description != DEFAULT_DESCRIPTION:
            return self.description
        return _(
            "The DESE indicators, equally weighted, each as a percentile rank within the "
            "district: low income / economically disadvantaged, English learners and students "
            "with disabilities, which DESE publishes for every school, with high needs and "
            "chronic absence where present. A school missing some is scored on those it has, "
            "its weights re-scaled over them, and flagged."
        )

    @property
    def title(self) -> str:
        """The name (as shown) and version, for pages."""
        return f"{self.shown_name} v{self.version}"

    def __repr__(self) -> str:
        return f"<NeedIndexDefinition {self.id} {self.name!r} v{self.version}>"
