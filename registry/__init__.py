"""The partnership registry: a Flask app for a school district's community partnerships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, g, request, session
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from registry import unit_of_work
from registry.config import Settings, build_config
from registry.extensions import babel, csrf, db, login_manager, migrate
from registry.ids import IdConverter
from registry.unit_of_work import RegistryFlask

PACKAGE = Path(__file__).resolve().parent

# No 'unsafe-inline' anywhere: pages carry no style= attribute and no <style> element (every
# style is a class in static/*.css; tests/test_csp.py walks the pages to keep it so).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


def bundled_folder(name: str) -> Path:
    """The `templates` or `migrations` folder: in the package if installed, else the source's."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name


def select_locale() -> str | None:
    """The page language: ?lang=, else remembered, else the user's own, else the browser's."""
    from flask import current_app, has_request_context
    from flask_login import current_user

    if not has_request_context():
        return None  # CLI and background work: the default locale
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang")  # remembered by registry.language
    if chosen in languages:
        return chosen
    if session.get("lang") in languages:
        return session["lang"]
    own = getattr(current_user, "locale", "") if current_user.is_authenticated else ""
    if own in languages:
        return str(own)
    return request.accept_languages.best_match(list(languages))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, CLI commands."""
    app = RegistryFlask(
        __name__,
        instance_relative_config=True,
        template_folder=str(bundled_folder("templates")),
        static_folder="static",
    )
    app.config.update(build_config(app.instance_path, Settings.from_environ(), config))
    app.url_map.converters["int"] = IdConverter  # before any route: ids out of range are 404s
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from registry import audit, language, sessions

    db.init_app(app)
    unit_of_work.init_app(app)
    migrate.init_app(app, db, directory=str(bundled_folder("migrations")))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    language.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    # The user loader, and the session-record check before anything reads current_user.
    sessions.init_app(app)

    @app.before_request
    def attribute_changes_to_the_signed_in_user() -> None:
        actor = audit.SYSTEM
        if current_user.is_authenticated:
            actor = audit.Actor(current_user.id, current_user.email)
        g.audit_token = audit.set_actor(actor)

    @app.teardown_request
    def forget_the_actor(exc: BaseException | None) -> None:
        # The actor must not outlive the request (a thread serves many; tests share one).
        token = g.pop("audit_token", None)
        if token is not None:
            audit.reset_actor(token)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:  # served over HTTPS only: browsers remember it
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    if app.config["TRUSTED_PROXIES"]:
        # Behind N proxies: the client's address, scheme and host are what they forwarded.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )

    _register_blueprints(app)
    _register_template_helpers(app)
    if app.config["WARM_AT_START"]:
        from registry.directory.caching import warm

        warm(app)  # each worker compiles the public pages before its first visitor

    from registry.cli import register_commands

    register_commands(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from registry.api.account import bp as api_tokens_bp
    from registry.api.views import bp as api_v1_bp
    from registry.applications.views import bp as applications_bp
    from registry.auth.views import bp as auth_bp
    from registry.directory.views import bp as directory_bp
    from registry.documents.views import bp as documents_bp
    from registry.equity.api import bp as api_bp
    from registry.equity.views import bp as equity_bp
    from registry.errors import register_error_handlers
    from registry.invitations.views import bp as invitations_bp
    from registry.main.views import bp as main_bp
    from registry.mfa.views import bp as mfa_bp
    from registry.mous.views import bp as mous_bp
    from registry.notifications.views import bp as notifications_bp
    from registry.partners.views import bp as partners_bp
    from registry.pickers.views import bp as pickers_bp
    from registry.programs.views import bp as programs_bp
    from registry.scenarios.views import bp as scenarios_bp
    from registry.schools.views import bp as schools_bp
    from registry.seclog.views import bp as seclog_bp
    from registry.services.views import bp as services_bp
    from registry.sessions.views import bp as sessions_bp
    from registry.users.account import bp as account_bp
    from registry.users.views import bp as users_bp

    blueprints = (
        auth_bp,
        main_bp,
        partners_bp,
        schools_bp,
        services_bp,
        mous_bp,
        users_bp,
        equity_bp,
        scenarios_bp,
        api_bp,
        programs_bp,
        notifications_bp,
        account_bp,
        applications_bp,
        invitations_bp,
        documents_bp,
        api_v1_bp,
        api_tokens_bp,
        directory_bp,
        mfa_bp,
        sessions_bp,
        seclog_bp,
        pickers_bp,
    )
    for bp in blueprints:
        app.register_blueprint(bp)
    register_error_handlers(app)


def _register_template_helpers(app: Flask) -> None:
    from flask_babel import get_locale

    from registry import formats
    from registry.access import can_edit, can_view
    from registry.vocabulary import Role

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"can_edit": can_edit, "can_view": can_view, "Role": Role, "get_locale": get_locale}

    formats.init_app(app)
