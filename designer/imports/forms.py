"""The import pages' forms: the upload, and the mapping with its choices (built per file, like entry forms)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, RadioField, SelectField
from wtforms.fields.choices import SelectChoice

from .mapping import IGNORE, PARENT, match_fields, targets

_FILES = FileAllowed(["csv", "xlsx", "xlsm"], _l("Choose a .csv or .xlsx file."))


class UploadForm(FlaskForm):
    file = FileField(_l("File (.xlsx or .csv)"), validators=[FileRequired(_l("Choose a file.")), _FILES])
    child_file = FileField(_l("Child records in a file of their own (optional)"), validators=[_FILES])


def _targets(obj, *, parent=None, match_label: str = "") -> list[SelectChoice]:
    out = [SelectChoice(IGNORE, _l("— do not import —"))]
    if parent is not None:
        out.append(SelectChoice(PARENT, _l("↑ %(parent)s: %(field)s", parent=parent.label, field=match_label)))
    return out + [SelectChoice(f.key, f.label) for f in targets(obj)]


def mapping_form(obj, headers: list[str], *, owners: list[tuple[str, str]], child_sources: list[tuple[str, str]],
                 child_objects: list[tuple[str, str]] = (), child=None, child_headers: list[str] | None = None, match: str | None = None) -> type[FlaskForm]:
    """A form with a select per column of the file (`c0`, `c1`, …) and, for a child table, per child column
    (`k0`, …); the import's mode, duplicate handling and owner; the child table's source, object and match key."""
    attrs = {
        "mode": RadioField(_l("If some rows are bad"), default="partial", choices=[
            SelectChoice("partial", _l("Import the good rows and report the bad ones")),
            SelectChoice("all", _l("All or nothing: if any row is bad, import nothing"))]),
        "duplicates": RadioField(_l("If a row duplicates an existing record"), default="skip", choices=[
            SelectChoice("skip", _l("Skip the row")),
            SelectChoice("update", _l("Update the existing record with the row's values")),
            SelectChoice("new", _l("Import it as a new record anyway, with a warning"))]),
        #: what the child columns were mapped for (source, object, match): a change maps them afresh
        "child_for": HiddenField(),
    }
    if len(owners) > 1:
        attrs["owner"] = SelectField(_l("Owner of the new records"), choices=[SelectChoice(u, n) for u, n in owners])
    for i, heading in enumerate(headers):
        attrs[f"c{i}"] = SelectField(heading or f"#{i + 1}", choices=_targets(obj))
    if obj.children:
        attrs["child_source"] = SelectField(_l("Child records"), choices=[SelectChoice(v, t) for v, t in child_sources])
        attrs["child_object"] = SelectField(_l("Child object"), choices=[SelectChoice(k, t) for k, t in child_objects])
        attrs["match"] = SelectField(_l("Match child rows to their parent by"),
                                     choices=[SelectChoice(f.key, f.label) for f in match_fields(obj)])
    if child is not None:
        label = obj.fields[match].label if match in obj.fields else match
        for i, heading in enumerate(child_headers or []):
            attrs[f"k{i}"] = SelectField(heading or f"#{i + 1}", choices=_targets(child, parent=obj, match_label=label))
    return type("MappingForm", (FlaskForm,), attrs)

