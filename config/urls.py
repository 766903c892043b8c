"""Root URLconf: the public contract of ../shared/DESIGN.md."""

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.admin_site import LedgerlineAdminSite
from config import health
from config.api_docs import api_docs

admin.site.__class__ = LedgerlineAdminSite
admin.site.site_header = "Ledgerline administration"
admin.site.site_title = "Ledgerline admin"

# Styled error pages (templates/400.html, 404.html: Django's own views render them).
handler403 = "accounts.denied.permission_denied"
handler500 = "config.error_views.server_error"


urlpatterns = [
    path("healthz", login_not_required(health.healthz), name="healthz"),
    path("readyz", login_not_required(health.readyz), name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("team/", include("accounts.team_urls")),
    # The merchant's data-request pages need payments' customers and accounts' step-up, which
    # compliance may not import: payments serves them under /compliance/.
    path("compliance/data-requests/", include("payments.data_request_urls")),
    path("compliance/", include("compliance.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("api/v1/", include("config.api_urls")),
    path("webhooks/plaid/", include("banking.webhook_urls")),
    path("webhooks/", include("payments.webhook_urls")),
    path("pay/", include("payments.public_urls")),
    path("bank-accounts/", include("banking.urls")),
    path("link/", include("banking.public_urls")),
    path("developers/", include("payments.developer_urls")),
    # Home, payments, customers and payment links (payments.dashboard_urls).
    path("", include("payments.dashboard_urls")),
]
