"""Dashboard routes of banking, mounted at `/bank-accounts/`."""

from django.urls import path

from banking import views

urlpatterns = [
    path("", views.bank_accounts, name="bank-accounts"),
    path("sessions/", views.bank_link_session_create, name="bank-link-session-create"),
    path("<str:public_id>/debit/", views.bank_account_debit, name="bank-account-debit"),
    path(
        "<str:public_id>/disconnect/",
        views.bank_account_disconnect,
        name="bank-account-disconnect",
    ),
]
