"""Routes of the `/settings/` page (processors; the payout schedule joins it)."""

from django.urls import path

from payments import settings_views

urlpatterns = [
    path("", settings_views.settings_page, name="settings"),
    path("processors/braintree/", settings_views.braintree_connect, name="settings-braintree"),
    path("processors/routing/", settings_views.routing_update, name="settings-routing"),
]
