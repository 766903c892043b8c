"""Public URL of the customer's bank-link page, mounted at `/link/` (the token is the key)."""

from django.urls import path

from banking import public_views

urlpatterns = [
    path("<str:token>/", public_views.bank_link, name="bank-link"),
]
