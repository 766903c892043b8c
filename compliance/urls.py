"""URLs of the merchant's compliance page (mounted at /compliance/)."""

from django.urls import path

from compliance import views

app_name = "compliance"

urlpatterns = [
    path("", views.home, name="home"),
    path("audit-log.csv", views.export_csv, name="audit_csv"),
]
