"""Public URLs of the payment link page, mounted at `/pay/` (no login: the token is the key)."""

from django.urls import path

from payments import public_views

urlpatterns = [
    path("<str:token>/", public_views.pay, name="pay"),
    path(
        "<str:token>/status/<str:payment_id>/",
        public_views.pay_status,
        name="pay-status",
    ),
]
