"""The web app, assembled in one flat function: config, subsystems, blueprints."""
from __future__ import annotations

from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    """Build the tierwise app; `config` overrides the instance configuration (tests, `serve`)."""
    app = Flask(__name__, instance_path=(config or {}).get("INSTANCE_PATH"), instance_relative_config=True)
    from . import config as configuration
    configuration.load(app, config)

    from . import db, errors, i18n, navigation, security
    from .auth import login
    from .records import display
    db.init_app(app)
    display.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    login.init_app(app)
    navigation.init_app(app)

    from .api.views import bp as api_bp
    from .auth.views import bp as auth_bp
    from .exports.views import bp as exports_bp
    from .imports.views import bp as imports_bp
    from .records.views import bp as records_bp
    app.register_blueprint(auth_bp)
    app.register_blueprint(records_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(imports_bp)
    app.register_blueprint(exports_bp)

    from flask_babel import lazy_gettext as _l
    from .workflows.inbox_views import InboxLabel, bp as inbox_bp
    app.register_blueprint(inbox_bp)
    navigation.add(app, "inbox.today", _l("Today"))
    navigation.add(app, "inbox.inbox", InboxLabel())

    from .workflows.pool_views import bp as pools_bp
    app.register_blueprint(pools_bp)
    navigation.add(app, "pools.first", _l("Public pool"))

    from .dashboards.views import bp as dashboards_bp
    app.register_blueprint(dashboards_bp)
    navigation.add(app, "dashboards.page", _l("Dashboards"), roles=("admin", "manager"))

    from .studio.views import bp as studio_bp
    app.register_blueprint(studio_bp)
    navigation.add(app, "studio.builder", _l("Designer"), roles=("admin",))
    return app
