"""Entry forms generated with WTForms from an object's fields (SPEC §2 field types).

WTForms renders the inputs, carries the CSRF token and collects what was
typed; the engine is the only authority on validity (the same checks as the
API and imports), and its problems are put back on the fields they name.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.fields.choices import SelectChoice

from engine.fields import option_index


class CheckboxesField(SelectMultipleField):
    """A multiselect as a list of checkboxes: easier than a <select multiple> on a phone."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _options(f):
    values, by_label = option_index(f.spec)
    labels = {v: k for k, v in by_label.items()}
    return [SelectChoice(v, labels.get(v, v)) for v in values]


_BLANK = SelectChoice("", "—")


def _string(kind: str | None = None, **kw):
    def build(f, users):
        render = dict(kw)
        if kind:
            render["type"] = kind
        return StringField(f.label, description=f.spec.get("help", ""), render_kw=render)
    return build


def _text(f, users):
    return StringField(f.label, description=f.spec.get("help", ""),
                       render_kw={"maxlength": f.spec.get("max_length", 200)})


def _textarea(f, users):
    return TextAreaField(f.label, description=f.spec.get("help", ""),
                         render_kw={"rows": 3, "maxlength": f.spec.get("max_length", 10000)})


def _select(f, users):
    return SelectField(f.label, choices=[_BLANK] + _options(f), description=f.spec.get("help", ""),
                       validate_choice=False)


def _multiselect(f, users):
    return CheckboxesField(f.label, choices=_options(f), description=f.spec.get("help", ""), validate_choice=False)


def _boolean(f, users):
    return SelectField(f.label, choices=[_BLANK, SelectChoice("true", _l("Yes")), SelectChoice("false", _l("No"))],
                       description=f.spec.get("help", ""), validate_choice=False)


def _user(f, users):
    return SelectField(f.label, choices=[_BLANK] + [SelectChoice(u.username, u.display_name or u.username) for u in users],
                       description=f.spec.get("help", ""), validate_choice=False)


def _region(f, users):
    return StringField(f.label, description=f.spec.get("help", ""),
                       render_kw={"data-region": "1", "placeholder": "广东省/深圳市/南山区"})


#: field type -> builder of its WTForms field (autonumber is assigned, never typed)
BUILDERS = {
    "text": _text, "textarea": _textarea,
    "integer": _string(None, inputmode="numeric"), "number": _string(None, inputmode="decimal"),
    "money": _string(None, inputmode="decimal"), "percent": _string(None, inputmode="decimal"),
    "boolean": _boolean, "date": _string("date"), "datetime": _string("datetime-local"),
    "select": _select, "multiselect": _multiselect, "phone": _string("tel", autocomplete="tel"),
    "email": _string("email", autocomplete="email"), "url": _string("url"), "region": _region, "user": _user,
}


def form_class(obj, users) -> type[FlaskForm]:
    """A form class for an object's input fields (formulas and autonumbers are not typed)."""
    attrs = {"Version": HiddenField()}  # capitalised: never a field key
    for key in typed_fields(obj):
        attrs[key] = BUILDERS[obj.fields[key].type](obj.fields[key], users)
    return type(f"{obj.key.title()}Form", (FlaskForm,), attrs)


def typed_fields(obj) -> list[str]:
    """Fields a person types: not formulas, autonumbers or `readonly` fields (those are shown, not edited)."""
    return [k for k, f in obj.fields.items()
            if f.formula is None and f.type in BUILDERS and f.spec.get("readonly") is not True]


def form_sections(obj, form) -> list[tuple[str | None, list[str]]]:
    """The keys an entry form shows (typed, plus autonumber and read-only values), grouped by `section`."""
    shown = {k for k, f in obj.fields.items()
             if k in form._fields or f.type == "autonumber" or f.spec.get("readonly") is True}
    return [(heading, [f.key for f in fields]) for heading, fields in obj.sections(shown)]


def form_values(form, obj) -> dict:
    """What was typed, field key -> raw value (the engine parses and normalises)."""
    out = {}
    for key in typed_fields(obj):
        value = form[key].data
        if obj.fields[key].type == "datetime" and isinstance(value, str) and value:
            value = value.replace("T", " ")
        out[key] = value
    return out


def form_data(obj, stored: dict, bundle) -> dict:
    """Stored values as the inputs show them (datetime-local in the bundle's timezone, booleans as text)."""
    from datetime import datetime
    out = {}
    for key in typed_fields(obj):
        value = stored.get(key)
        ftype = obj.fields[key].type
        if value is None:
            out[key] = [] if ftype == "multiselect" else ""
        elif ftype == "boolean":
            out[key] = "true" if value else "false"
        elif ftype == "datetime":
            out[key] = datetime.fromisoformat(value).astimezone(bundle.tz).strftime("%Y-%m-%dT%H:%M")
        else:
            out[key] = value
    return out
