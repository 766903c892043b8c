"""Routes of the inbound webhook endpoints under /webhooks/."""

from django.urls import path

from payments import webhook_views

urlpatterns = [
    path("stripe/", webhook_views.stripe_webhook, name="webhooks-stripe"),
    path("braintree/", webhook_views.braintree_webhook, name="webhooks-braintree"),
]
