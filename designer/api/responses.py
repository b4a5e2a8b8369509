"""JSON replies and the API's errors: one shape for every failure, Decimals written exactly.

Every error is `{"error": {"code", "message", ...}}` with an HTTP status
that says which kind it is; validation errors add `fields`, each with the
`path` of the value at fault (`order[1].amount`), so a caller can show all
of them at once.
"""
from __future__ import annotations

from flask import Response

from engine import codecs


class ApiError(Exception):
    """An answer that is not a success: `status`, a stable `code`, a message for people, and extra members."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None,
                 body: dict | None = None, **extra):
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        #: members of the error object besides code and message (`fields`, `problems`, ...)
        self.extra = extra
        #: members of the reply beside `error` (the current record of a 409)
        self.body = body or {}
        super().__init__(f"{status} {code}: {message}")

    def reply(self) -> Response:
        return reply({"error": {"code": self.code, "message": self.message, **self.extra}, **self.body},
                     self.status, self.headers)


def reply(body, status: int = 200, headers: dict | None = None) -> Response:
    """`body` as JSON: dates ISO, datetimes ISO 8601, money exact (never through float)."""
    response = Response(codecs.dumps(codecs.to_json(body)), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problems_json(problems) -> list[dict]:
    """FieldProblems as JSON: path, message and the machine-readable detail (or null)."""
    return [{"path": p.path.rstrip("."), "message": p.message, "detail": p.detail} for p in problems]


def invalid(problems, message: str | None = None) -> ApiError:
    """422 listing every value at fault."""
    count = len(problems)
    return ApiError(422, "invalid", message or f"{count} value{'s' if count != 1 else ''} must be corrected",
                    fields=problems_json(problems))
