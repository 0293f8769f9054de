"""Group-therapy session management: the application factory."""

from __future__ import annotations

import os

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from . import auth, commands, config, db, errors, inputs, navigation, security
from .services import handouts as handout_service

csrf = CSRFProtect()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.path.join(ROOT, "instance"),
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config:
        app.config.update(test_config)
    register_extensions(app)
    register_blueprints(app)
    return app


def register_extensions(app: Flask) -> None:
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    inputs.init_app(app)  # first: the id converter and the NUL guard precede routes and hooks
    db.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    navigation.init_app(app)
    handout_service.init_app(app)
    commands.init_app(app)


def register_blueprints(app: Flask) -> None:
    from .views import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
