"""Who may see and change what: one place for every role and object rule.

Anything a user may not see is a 404, so a partner cannot even learn that
another partner's record exists. Anonymous visitors are sent to sign in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import abort, request
from flask_login import current_user, login_required

from registry.extensions import db
from registry.ids import is_id
from registry.models import MOU, Partner, School, Service, User
from registry.security_log import record
from registry.vocabulary import Role

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M")

EDITORS = (Role.ADMIN, Role.COORDINATOR)
READERS = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)


def roles_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Sign-in required, and one of the roles; any other signed-in user gets a 404."""

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        @login_required
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if current_user.role not in roles:
                record("access.refused", endpoint=request.endpoint, role=current_user.role.value)
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def can_view(user: User, obj: Any) -> bool:
    """Whether a user may see a record."""
    if user.role in READERS:
        return True
    if user.role == Role.PARTNER and user.partner_id is not None:
        if isinstance(obj, Partner):
            return obj.id == user.partner_id
        if isinstance(obj, Service | MOU):
            # A partner reads its own MOUs but never changes them (see can_edit).
            return obj.partner_id == user.partner_id
    return False


def can_edit(user: User, obj: Any) -> bool:
    """Whether a user may change a record (partners: their own listing and services only)."""
    if user.role in EDITORS:
        return True
    if user.role == Role.PARTNER:
        return isinstance(obj, Partner | Service) and can_view(user, obj)
    return False


def own_partner_id() -> int | None:
    """The partner whose records a signed-in partner user's lists are confined to.

    None for district staff (no confinement). A partner account without a partner link
    has nothing of its own to see: its lists answer 404, never every partner's records.
    """
    if current_user.role != Role.PARTNER:
        return None
    if current_user.partner_id is None:
        abort(404)
    return int(current_user.partner_id)


def _load(model: type[M], ident: int, check: Callable[[User, Any], bool]) -> M:
    if not is_id(ident):  # paths are bounded already; other callers pass any int
        abort(404)
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    if not check(current_user, obj):
        record("access.refused", entity=model.__name__, entity_id=ident, check=check.__name__)
        abort(404)
    return obj


def viewable_or_404(model: type[M], ident: int) -> M:
    """Load a record the signed-in user may see, or answer 404."""
    return _load(model, ident, can_view)


def editable_or_404(model: type[M], ident: int) -> M:
    """Load a record the signed-in user may change, or answer 404."""
    return _load(model, ident, can_edit)


__all__ = [
    "EDITORS",
    "MOU",
    "READERS",
    "School",
    "can_edit",
    "can_view",
    "editable_or_404",
    "own_partner_id",
    "roles_required",
    "viewable_or_404",
]
