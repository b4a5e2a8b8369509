"""Links in the top bar beside the objects, added by the blueprints that own the pages (inbox, pool, dashboards, designer)."""
from __future__ import annotations

from flask import Flask, current_app
from flask_login import current_user


def add(app: Flask, endpoint: str, label, roles: tuple[str, ...] = ("admin", "manager", "rep")):
    """Show `label` (a lazy gettext string) linking to `endpoint` to users whose role is in `roles`."""
    app.extensions.setdefault("tierwise_nav", []).append((endpoint, label, roles))


def init_app(app: Flask):
    @app.context_processor
    def nav_links():
        if not current_user.is_authenticated:
            return {"nav_links": []}
        role = getattr(current_user, "role", "rep")
        return {"nav_links": [(e, label) for e, label, roles in current_app.extensions.get("tierwise_nav", [])
                              if role in roles]}
