"""Route of Plaid's webhook endpoint, mounted at `/webhooks/plaid/`."""

from django.urls import path

from banking import webhook_views

urlpatterns = [
    path("", webhook_views.plaid_webhook, name="webhooks-plaid"),
]
