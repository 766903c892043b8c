"""Routes of the data-requests API under /api/v1/."""

from django.urls import path

from payments.api import data_requests as views

app_name = "data_requests_api"

urlpatterns = [
    path("data-requests", views.DataRequestsApi.as_view(), name="data-requests"),
    path(
        "data-requests/<str:public_id>", views.DataRequestDetailApi.as_view(), name="data-request"
    ),
    path(
        "data-requests/<str:public_id>/certificate",
        views.DataRequestCertificateApi.as_view(),
        name="data-request-certificate",
    ),
]
