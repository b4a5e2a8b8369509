"""Exceptions of the engine, split into "your definition is wrong" and "this run failed".

Every definition problem carries where it is: the file, line and column in
the bundle's source, the path inside the document, and, for expressions, the
kind of error and the column inside the expression. Callers get all of a
bundle's problems at once (`BundleInvalid.problems`), never only the first.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class TierwiseError(Exception):
    """Root of every error the engine raises on purpose."""


class DefinitionError(TierwiseError):
    """A bundle, an expression or a rule is wrong: the author must fix it."""


class RunError(TierwiseError):
    """Evaluating a valid definition on some input failed."""


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a bundle."""

    #: file name as the user named it
    file: str
    #: 1-based line in that file (0 when the problem has no place in a file)
    line: int
    #: 1-based column in that file
    col: int
    #: path inside the document, e.g. ``objects.customer.fields[3].min``
    path: str
    message: str
    #: ``syntax``, ``name`` or ``type`` for problems inside an expression
    kind: str | None = field(default=None, compare=False)
    #: 1-based column inside the expression, for expression problems
    expr_col: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class BundleInvalid(DefinitionError):
    """A bundle failed to load; `problems` lists every problem found, in source order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ExpressionError(DefinitionError):
    """An expression is rejected when checked (before any evaluation)."""

    def __init__(self, kind: str, column: int, message: str):
        #: ``syntax``, ``name`` or ``type``
        self.kind = kind
        #: 1-based column inside the expression text
        self.column = column
        self.message = message
        super().__init__(f"column {column}: {message}")


@dataclass(frozen=True)
class FieldProblem:
    """A value that does not fit its field: ``path`` is e.g. ``phone`` or ``order[2].amount``."""

    path: str
    message: str
    #: machine-readable facts, e.g. the existing record a duplicate matches
    detail: dict | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class RecordInvalid(RunError):
    """A record's values do not fit its object; `problems` lists every field at fault."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
