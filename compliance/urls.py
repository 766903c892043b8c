from functools import partial

from django.urls import path

from config.dashboard import planned_section

app_name = "compliance"

urlpatterns = [
    path(
        "",
        partial(
            planned_section,
            section="compliance",
            title="Compliance",
            summary="The audit log and data requests are not available yet.",
        ),
        name="home",
    ),
]
