"""Partner self-service: applications, invitations, and partners' edits awaiting review."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, String, Text, inspect
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import UTCDateTime, enum_column, utcnow
from registry.vocabulary import LabelledEnum, add_labels

if TYPE_CHECKING:
    from registry.models.partner import Partner
    from registry.models.service import Service
    from registry.models.user import User


class ApplicationStatus(LabelledEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"
    APPROVED = "approved"


class ChangeStatus(LabelledEnum):
    PENDING = "pending"
    APPROVED = "approved"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"  # the partner saved again with nothing left to review


add_labels(
    (
        (ApplicationStatus.SUBMITTED, _l("Awaiting review")),
        (ApplicationStatus.RETURNED, _l("Returned with comments")),
        (ApplicationStatus.APPROVED, _l("Approved")),
        (ChangeStatus.PENDING, _l("Awaiting review")),
        (ChangeStatus.APPROVED, _l("Approved")),
        (ChangeStatus.RETURNED, _l("Returned with a comment")),
        (ChangeStatus.WITHDRAWN, _l("Withdrawn")),
    )
)


class Application(Model):
    """An organisation's application to become a partner (its partner has status applicant)."""

    __tablename__ = "partner_application"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), unique=True
    )
    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_email: Mapped[str] = mapped_column(String(254))
    # The language the applicant applied in: the decision is emailed in it ("" = the default).
    locale: Mapped[str] = mapped_column(String(10), default="")
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_column(ApplicationStatus), default=ApplicationStatus.SUBMITTED, index=True
    )
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner] = relationship()
    reviewed_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def title(self) -> str:
        """The audit names an application by its organisation (when loaded), else its id."""
        if "partner" in inspect(self).unloaded or self.partner is None:
            return f"#{self.id}"
        return self.partner.name


class ApplicationAttempt(Model):
    """One application received from a client address, counted by the rate limit."""

    __tablename__ = "application_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_ip: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Invitation(Model):
    """A one-time link for a contact to create a partner account; only its SHA-256 is kept."""

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    partner: Mapped[Partner] = relationship()

    @property
    def title(self) -> str:
        """The audit names an invitation by whom it invites."""
        return self.email


class ChangeRequest(Model):
    """A partner user's edit to its published listing, applied only when a coordinator approves.

    `changes` maps a field ("description", "languages", "description_translations.es")
    to {"old": ..., "new": ...}, JSON values as the audit trail stores them.
    """

    __tablename__ = "change_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ChangeStatus] = mapped_column(
        enum_column(ChangeStatus), default=ChangeStatus.PENDING, index=True
    )
    comment: Mapped[str] = mapped_column(Text, default="")
    submitted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner] = relationship()
    service: Mapped[Service | None] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def title(self) -> str:
        """The audit names a request by what it changes (when loaded), else its id."""
        unloaded = inspect(self).unloaded
        if "service" not in unloaded and self.service is not None:
            return self.service.name
        if "partner" not in unloaded and self.partner is not None:
            return self.partner.name
        return f"#{self.id}"
