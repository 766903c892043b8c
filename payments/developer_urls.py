"""Routes of the Developers page (mounted at /developers/): API keys and inbound events.

Names are not namespaced: the dashboard shell and the page link to `developers` directly.
"""

from django.urls import path

from payments import developer_views

urlpatterns = [
    path("", developer_views.developers, name="developers"),
    path("keys/", developer_views.api_key_create, name="developers-key-create"),
    path(
        "keys/<str:key_id>/revoke/",
        developer_views.api_key_revoke,
        name="developers-key-revoke",
    ),
]
