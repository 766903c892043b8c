"""Public URL of the customer's bank-link page, mounted at `/link/` (the token is the key)."""

from django.urls import path

from banking import fallback_views, public_views

urlpatterns = [
    path("<str:token>/", public_views.bank_link, name="bank-link"),
    path(
        "<str:token>/stripe/<str:account>/",
        fallback_views.stripe_fallback,
        name="bank-link-stripe-fallback",
    ),
]
