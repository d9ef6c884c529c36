"""Configuration: defaults, and the environment read once, here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Where the district is: pages show stored (UTC) times in this zone.
DEFAULT_DISTRICT_TIMEZONE = "America/New_York"


class ConfigError(RuntimeError):
    """The app cannot start with the configuration it was given."""


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    database_url: str | None
    secret_key: str | None
    redis_url: str | None
    secure_cookies: bool = False
    district_timezone: str = DEFAULT_DISTRICT_TIMEZONE
    smtp_url: str | None = None
    registry_url: str | None = None
    mfa_required_roles: tuple[str, ...] | None = None  # None: the default roles
    mail_from: str | None = None
    # The district's 4-digit DESE code (Boston: 0035): statewide school files keep its rows.
    district_code: str | None = None
    # How many reverse proxies stand in front of the app (0: none, X-Forwarded-* ignored).
    trusted_proxies: int = 0
    # TOTP secrets are encrypted with this Fernet key (None: one derived from SECRET_KEY);
    # the old keys still decrypt, for a rotation (registry.mfa.secret_box).
    mfa_encryption_key: str | None = None
    mfa_encryption_old_keys: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or None,
            secret_key=os.environ.get("SECRET_KEY") or None,
            redis_url=os.environ.get("REDIS_URL") or None,
            secure_cookies=os.environ.get("SESSION_COOKIE_SECURE", "").lower() in {"1", "true"},
            district_timezone=os.environ.get("DISTRICT_TIMEZONE") or DEFAULT_DISTRICT_TIMEZONE,
            smtp_url=os.environ.get("SMTP_URL") or None,
            registry_url=os.environ.get("REGISTRY_URL") or None,
            mfa_required_roles=_roles(os.environ.get("MFA_REQUIRED_ROLES")),
            mail_from=os.environ.get("MAIL_FROM") or None,
            district_code=os.environ.get("DISTRICT_CODE") or None,
            trusted_proxies=_count("TRUSTED_PROXIES"),
            mfa_encryption_key=os.environ.get("MFA_ENCRYPTION_KEY") or None,
            mfa_encryption_old_keys=_list(os.environ.get("MFA_ENCRYPTION_OLD_KEYS")),
        )


def _roles(value: str | None) -> tuple[str, ...] | None:
    """A comma-separated list of roles ("admin,coordinator"); set but empty = none."""
    if value is None:
        return None
    return tuple(r.strip() for r in value.split(",") if r.strip())


def _list(value: str | None) -> tuple[str, ...]:
    """A comma-separated list (unset or empty: none)."""
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _count(name: str) -> int:
    """A whole number of 0 or more from the environment (unset or empty: 0)."""
    raw = os.environ.get(name, "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{name} must be a whole number of 0 or more, not {raw!r}.")
    return value


def sqlite_default(instance_path: str) -> str:
    """The embedded default database: a SQLite file in the instance folder."""
    return "sqlite:///" + str(Path(instance_path) / "registry.sqlite3")


def build_config(
    instance_path: str, settings: Settings, overrides: dict[str, Any] | None
) -> dict[str, Any]:
    """Merge defaults, environment and explicit overrides; refuse an unsafe production set-up."""
    overrides = dict(overrides or {})
    testing = bool(overrides.get("TESTING"))
    debug = bool(overrides.get("DEBUG")) or os.environ.get("FLASK_DEBUG") in {"1", "true"}
    secret = overrides.pop("SECRET_KEY", None) or settings.secret_key
    if not secret:
        if not (testing or debug):
            raise ConfigError(
                "SECRET_KEY is not set. Set it in the environment "
                "(for example: export SECRET_KEY="
                "$(python -c 'import secrets; print(secrets.token_hex(32))'))."
            )
        secret = "dev-only-not-secret"
    url = overrides.pop("SQLALCHEMY_DATABASE_URI", None) or settings.database_url
    if not url:
        url = sqlite_default(instance_path)
    zone = overrides.pop("DISTRICT_TIMEZONE", None) or settings.district_timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"DISTRICT_TIMEZONE {zone!r} is not a known time zone "
            "(use an IANA name such as America/New_York)."
        ) from err
    config: dict[str, Any] = {
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": settings.redis_url,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": settings.secure_cookies,
        "REMEMBER_COOKIE_SECURE": settings.secure_cookies,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "BABEL_DEFAULT_LOCALE": "en",
        "DISTRICT_TIMEZONE": zone,
        "DISTRICT_CODE": settings.district_code,
        "BABEL_DEFAULT_TIMEZONE": zone,
        # Every string is marked for translation; the switch appears once catalogs exist.
        "LANGUAGES": {"en": "English", "es": "Español", "pt": "Português"},
        "SHOW_LANGUAGE_SWITCH": (Path(__file__).parent / "translations").is_dir(),
        "PER_PAGE": 25,
        # A scenario run is built and solved in the background; the request waits this long
        # for it (0: not at all, the run page shows its progress).
        "SCENARIO_WAIT_S": 0.0,
        "SCENARIO_QUEUE": "scenarios",
        # Runs solving at once, per user and in all; more wait in line (registry.scenarios.runner).
        "SCENARIO_RUNS_PER_USER": 2,
        "SCENARIO_RUNS_TOTAL": 4,
        # The build's allowance on top of the solve's time limit (in the RQ job's own limit).
        "SCENARIO_BUILD_ALLOWANCE_S": 120,
        # A run still "running" this long after twice its time limit and the build's allowance
        # is stuck: failed.
        "SCENARIO_STALE_MARGIN_S": 300,
        # A worker with a run says it is alive this often; a run with no heartbeat for the
        # timeout lost its worker: queued again (SCENARIO_RUN_ATTEMPTS in all), else failed.
        # Each `scenarios worker` looks for such runs every SCENARIO_REAP_EVERY_S seconds.
        "SCENARIO_HEARTBEAT_S": 10.0,
        "SCENARIO_HEARTBEAT_TIMEOUT_S": 60.0,
        "SCENARIO_RUN_ATTEMPTS": 2,
        "SCENARIO_REAP_EVERY_S": 30.0,
        # Every request body: imports are read in memory and stay at 5 MB. The document upload
        # alone raises its own request's limit (registry.documents.views).
        "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
        # Documents (registry.documents): PDFs up to this size, kept outside the web root.
        "DOCUMENT_MAX_BYTES": 10 * 1024 * 1024,
        "DOCUMENTS_DIR": str(Path(instance_path) / "documents"),
        "UPLOAD_FOLDER": str(Path(instance_path) / "uploads"),
        # Mail (registry.mail): smtp://user:pass@host:587?starttls=1, or smtps://...; None = off.
        "SMTP_URL": settings.smtp_url,
        "MAIL_FROM": settings.mail_from or "registry@localhost",
        "SMTP_TIMEOUT_S": 10.0,
        # Where mailed links point (a command run by cron has no request to take it from).
        "REGISTRY_URL": settings.registry_url,
        # send-reminders: days before a date that a reminder goes out.
        "REMINDER_LEAD_DAYS": (60, 30, 7),
        # Whoever drafted or last edited an MOU cannot activate it; another coordinator does.
        "MOU_TWO_PERSON_APPROVAL": True,
        # Reverse proxies in front of the app: X-Forwarded-For/-Proto/-Host/-Port are trusted
        # from this many hops (werkzeug's ProxyFix). 0: none, the headers are ignored.
        "TRUSTED_PROXIES": settings.trusted_proxies,
        # TOTP secrets at rest (registry.mfa.secret_box): a Fernet key; None derives one from
        # SECRET_KEY with HKDF. Old keys (or old SECRET_KEYs) still decrypt during a rotation;
        # `flask mfa-rotate-key` re-encrypts every secret under the current key.
        "MFA_ENCRYPTION_KEY": settings.mfa_encryption_key,
        "MFA_ENCRYPTION_OLD_KEYS": settings.mfa_encryption_old_keys,
        # Compile the family directory's templates and load its catalogues when the app is
        # built (each gunicorn worker), not in its first visitors' requests. Off in tests.
        "WARM_AT_START": not testing,
    }
    if settings.mfa_required_roles is not None:
        config["MFA_REQUIRED_ROLES"] = settings.mfa_required_roles
    config.update(overrides)
    return config
