"""What names mean where an expression is written (SPEC §3.1 name resolution)."""
from __future__ import annotations

from dataclasses import dataclass, field

#: Value types of the language (SPEC §3.2). Lists are ``list:<element type>``.
NUMBER, TEXT, BOOL, DATE, DATETIME, DURATION, NULL = "number", "text", "bool", "date", "datetime", "duration", "null"
LIST_TEXT = "list:text"


@dataclass(frozen=True)
class Var:
    """A name an expression can read."""

    #: language type
    type: str
    #: ``field`` (input field or system attribute), ``formula`` or ``classification``
    kind: str
    #: the key it is stored under
    key: str
    #: label shown in completions and explanations
    label: str | None = None


@dataclass
class Scope:
    """Names visible to one expression."""

    #: object the expression belongs to
    object: str
    names: dict[str, Var] = field(default_factory=dict)
    #: child object key -> the scope inside its aggregates (with ``parent`` set)
    children: dict[str, Scope] = field(default_factory=dict)
    #: names reachable as ``parent.x``
    parent: dict[str, Var] | None = None
    #: names reachable as ``old.x`` (change automations)
    old: dict[str, Var] | None = None
    #: names defined later (classifications after this one): known, but not readable here
    later: dict[str, str] = field(default_factory=dict)

    def all_names(self) -> list[str]:
        out = list(self.names)
        out += [f"parent.{n}" for n in self.parent or ()]
        out += [f"old.{n}" for n in self.old or ()]
        return out
