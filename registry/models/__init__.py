"""The registry's models, one module per aggregate."""

from registry.models.api_token import ApiToken
from registry.models.audit import AuditEntry
from registry.models.document import Document, DocumentStatus, DocumentType
from registry.models.imports import ImportMapping
from registry.models.login_throttle import LoginThrottle
from registry.models.mfa import MfaCredential, MfaRecoveryCode
from registry.models.mou import MOU, Commitment, MOUVersion, mou_school
from registry.models.need import NeedIndexDefinition
from registry.models.notification import Notification, ReminderKind, ReminderSent
from registry.models.partner import Partner
from registry.models.password_reset import PasswordResetToken
from registry.models.scenario import Scenario, ScenarioRun
from registry.models.school import INDICATORS, School, SchoolAlias, SchoolIndicators
from registry.models.security_event import SecurityEvent
from registry.models.selfservice import (
    Application,
    ApplicationAttempt,
    ApplicationStatus,
    ChangeRequest,
    ChangeStatus,
    Invitation,
)
from registry.models.service import Offering, ProgramAreaMapping, Service
from registry.models.user import User
from registry.models.user_session import UserSession

__all__ = [
    "INDICATORS",
    "MOU",
    "ApiToken",
    "Application",
    "ApplicationAttempt",
    "ApplicationStatus",
    "AuditEntry",
    "ChangeRequest",
    "ChangeStatus",
    "Commitment",
    "Document",
    "DocumentStatus",
    "DocumentType",
    "ImportMapping",
    "Invitation",
    "LoginThrottle",
    "MOUVersion",
    "MfaCredential",
    "MfaRecoveryCode",
    "NeedIndexDefinition",
    "Notification",
    "Offering",
    "Partner",
    "PasswordResetToken",
    "ProgramAreaMapping",
    "ReminderKind",
    "ReminderSent",
    "Scenario",
    "ScenarioRun",
    "School",
    "SchoolAlias",
    "SchoolIndicators",
    "SecurityEvent",
    "Service",
    "User",
    "UserSession",
    "mou_school",
]
