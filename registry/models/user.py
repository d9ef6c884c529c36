"""Accounts: who may sign in, and as what."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import Connection, ForeignKey, String, event, inspect
from sqlalchemy.orm import InstanceState, Mapped, Mapper, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import UTCDateTime, enum_column, utcnow
from registry.vocabulary import Role

if TYPE_CHECKING:
    from registry.models.partner import Partner

_hasher = PasswordHasher()


class User(UserMixin, Model):
    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[Role] = mapped_column(enum_column(Role))
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="SET NULL"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The language mail and notifications are written in ("en", "es", "pt"); "" = the default.
    locale: Mapped[str] = mapped_column(String(10), default="")
    # Set when an admin chooses the password: the user must pick their own at next sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False)

    # Optimistic locking: an admin's edit made on an older version is refused (409).
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def set_password(self, password: str) -> None:
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        try:
            return _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def has_role(self, *roles: Role | str) -> bool:
        return self.role.value in {str(r) for r in roles}

    @property
    def can_edit_registry(self) -> bool:
        return self.role in (Role.ADMIN, Role.COORDINATOR)

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


class PartnerLinkMissing(ValueError):
    """A partner account was about to be saved without the partner it belongs to."""


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _partner_role_needs_a_link(mapper: Mapper[User], connection: Connection, user: User) -> None:
    """Refuse to save a partner account without a partner (services refuse it first, in words).

    Checked when the account is created or its role or link changes, not on every save: an
    account whose partner was deleted (the link goes NULL) can still sign in, and sees nothing.
    """
    if user.role != Role.PARTNER or user.partner_id is not None or user.partner is not None:
        return
    state: InstanceState[User] = inspect(user)
    if any(state.attrs[name].history.has_changes() for name in ("role", "partner_id", "partner")):
        raise PartnerLinkMissing(f"partner account {user.email} has no partner")
