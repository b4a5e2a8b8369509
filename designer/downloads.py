"""Files handed to the browser as downloads: names in Chinese, files written to a temporary file first."""
from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(name: str) -> str:
    """A Content-Disposition that saves the file as `name`: RFC 6266's UTF-8 form, and an ASCII fallback for
    clients that lack it (客户-20261207.csv falls back to -20261207.csv)."""
    simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").replace('"', "")
    return f"attachment; filename=\"{simple}\"; filename*=UTF-8''{quote(name, safe='')}"


def send_temporary(out, mimetype: str, name: str) -> Response:
    """A download of the temporary file `out` (written up to its position), read in chunks and closed when
    sent (or abandoned)."""
    size = out.tell()
    out.seek(0)

    def chunks():
        with out:
            while data := out.read(1 << 16):
                yield data
    return Response(chunks(), mimetype=mimetype, headers={"Content-Disposition": attachment(name),
                                                          "Content-Length": str(size)})
