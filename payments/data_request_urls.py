"""The merchant's data-request pages, mounted at /compliance/data-requests/."""

from django.urls import path

from payments import data_request_views as views

app_name = "data_requests"

urlpatterns = [
    path("new/", views.data_request_new, name="new"),
    path("<str:public_id>/", views.data_request_detail, name="detail"),
    path("<str:public_id>/export.json", views.data_request_export_download, name="export"),
    path(
        "<str:public_id>/certificate.json",
        views.data_request_certificate_download,
        name="certificate",
    ),
]
