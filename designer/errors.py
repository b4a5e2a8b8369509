"""Error pages that say what happened and what to do next, in the user's language.

Werkzeug's own pages are English, unstyled and leave a rep on the road with
no way back. A view that aborts with its own (already translated) message
keeps it; the stock messages are replaced by one per status saying what to
do. The API answers its errors as JSON itself (`api.views`), so paths under
/api/ are left to it.
"""
from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from werkzeug.exceptions import HTTPException

#: status -> what to tell the user, when the view gave no message of its own
ADVICE = {
    400: _l("The request could not be read. Go back, reload the page and try again."),
    403: _l("You do not have access to this page. Ask an admin if you need it."),
    404: _l("This page does not exist, or no longer does. Check the address, or start again from the menu."),
    405: _l("This address cannot be opened this way. Go back and use the page's buttons."),
    413: _l("The file is too large to upload. Split it into smaller files and import them one by one."),
    500: _l("Something went wrong on our side; what this page was saving was not saved. Try again, and if it "
            "happens again tell your admin when it happened."),
}


def init_app(app: Flask):
    """Also catches what a view failed with unexpectedly: Flask hands that over as an InternalServerError."""
    app.register_error_handler(HTTPException, page)


def page(exc: HTTPException):
    """The error page of `exc` (an API path gets the exception back, which its blueprint answers as JSON)."""
    if request.path.startswith("/api/"):
        return exc
    code = exc.code or 500
    own = exc.description if exc.description != type(exc).description else None
    message = own or ADVICE.get(code) or exc.name
    referrer = request.referrer or ""
    back = referrer if referrer.startswith(request.host_url) and referrer != request.url else None
    try:
        return render_template("error.html", message=message, back=back, code=code), code
    except Exception:  # the layout reads the database, which may be what failed: the message still gets out
        return f"<!doctype html><meta charset=utf-8><p>{escape(message)}</p>", code
