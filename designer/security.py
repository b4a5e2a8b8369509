"""CSRF protection for every form post and session-authenticated API call, and safe response headers."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

csrf = CSRFProtect()


def init_app(app: Flask):
    csrf.init_app(app)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        message = _("The form expired; please submit it again.")
        if request.is_json or request.path.startswith("/api/"):
            return jsonify(error={"code": "csrf", "message": message}), 400
        return render_template("error.html", message=message, back=request.path), 400

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                    "frame-ancestors 'none'; form-action 'self'")
        return response
