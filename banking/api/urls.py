"""Routes of the banking API under /api/v1/."""

from django.urls import path

from banking.api import views

app_name = "banking_api"

urlpatterns = [
    path("bank-link-sessions", views.BankLinkSessionsApi.as_view(), name="bank-link-sessions"),
    path("bank-accounts", views.BankAccountsApi.as_view(), name="bank-accounts"),
    path(
        "bank-accounts/<str:public_id>", views.BankAccountDetailApi.as_view(), name="bank-account"
    ),
]
