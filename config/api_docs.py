"""`/api/docs/`: the API reference (Redoc), rendered under the strict CSP from our own origin.

drf-spectacular's page loads Google Fonts and starts Redoc from an inline script; both are
refused by the CSP, so it showed nothing. This page serves Redoc from drf-spectacular-sidecar,
starts it from a static script, and lets Redoc's run-time <style> elements in by nonce and
its search worker (made from a blob: URL by Redoc's own script) run.
"""

from __future__ import annotations

from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from drf_spectacular.views import SpectacularRedocView


class ApiDocsView(SpectacularRedocView):
    template_name = "api/docs.html"


api_docs = csp_update({"style-src": [NONCE], "worker-src": [SELF, "blob:"]})(
    ApiDocsView.as_view(url_name="api-schema")
)
