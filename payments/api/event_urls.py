"""Routes of `/api/v1/events` (inbound processor events)."""

from django.urls import path

from payments.api import events

app_name = "events_api"

urlpatterns = [
    path("events", events.EventsApi.as_view(), name="events"),
    path("events/<str:public_id>", events.EventDetailApi.as_view(), name="event"),
]
