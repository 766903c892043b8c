"""The page a person sees when the server fails: styled, with a reference, never a traceback.

Wired as `handler500` in config/urls.py. It renders without context processors, since what
failed may be the database or a context processor itself; the request id lets support find
the log lines of this request.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader


def server_error(request: HttpRequest) -> HttpResponse:
    template = loader.get_template("500.html")
    body = template.render({"request_id": getattr(request, "request_id", "")})
    return HttpResponseServerError(body)
