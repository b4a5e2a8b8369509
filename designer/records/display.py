"""How values look on pages: badges, local times, field values in words. All output is escaped."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from markupsafe import Markup

from engine.fields import option_index


def choices(c) -> list:
    """Values a classification can take, for filters (declared values, else the rules' values and default)."""
    if c.values:
        return [str(v) for v in c.values]
    out = []
    for v in [r.value for r in c.rules] + ([] if c.hit == "collect" else [c.default]):
        if v is not None and str(v) not in out:
            out.append(str(v))
    return out


def badge(c, value) -> Markup:
    if value is None or value == []:
        return Markup('<span class="badge empty">—</span>')
    if isinstance(value, list):
        return Markup("").join(Markup('<span class="badge tag">{}</span>').format(v) for v in value)
    known = choices(c)
    rank = known.index(str(value)) if str(value) in known else len(known)
    tone = min(rank, 4) if c.hit == "first" else "score"
    return Markup('<span class="badge t{}" title="{}">{}</span>').format(tone, c.label, value)


def localtime(value, bundle) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(bundle.tz).strftime("%Y-%m-%d %H:%M")


def show(value, f, bundle) -> Markup | str:
    """A stored field value in words (select labels, yes/no, local time, money with separators)."""
    if value is None or value == []:
        return "—"
    t = f.type
    if t == "boolean":
        return _("Yes") if value else _("No")
    if t == "datetime":
        return localtime(value, bundle)
    if t in ("select", "multiselect"):
        _values, by_label = option_index(f.spec)
        labels = {v: k for k, v in by_label.items()}
        items = value if isinstance(value, list) else [value]
        return "、".join(labels.get(v, v) for v in items)
    if t == "money":
        try:
            return f"¥{float(value):,.2f}" if f.spec.get("currency", "CNY") == "CNY" else f"{float(value):,.2f}"
        except (TypeError, ValueError):
            return str(value)
    if t == "percent":
        return f"{value}%"
    if t == "url":
        return Markup('<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>').format(value)
    return str(value)


def plain(value) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, list):
        return "、".join(map(str, value))
    return str(value)


def cause_label(cause: str) -> str:
    return {"saved": _("saved"), "time": _("time"), "rules published": _("rules published")}.get(cause, cause)


def action_label(action: str) -> str:
    return {"create": _("created"), "update": _("changed"), "delete": _("deleted")}.get(action, action)


def reject_key(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def init_app(app):
    app.add_template_global(choices)
    app.add_template_global(badge)
    app.add_template_global(cause_label)
    app.add_template_global(action_label)
    for name, fn in (("localtime", localtime), ("show", show), ("plain", plain), ("reject_key", reject_key)):
        app.add_template_filter(fn, name)
