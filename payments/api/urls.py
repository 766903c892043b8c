"""Routes of the payments API under /api/v1/."""

from django.urls import path

from payments.api import dispute_views, money, views

app_name = "payments_api"

urlpatterns = [
    path("payments", views.PaymentsApi.as_view(), name="payments"),
    path("payments/<str:public_id>", views.PaymentDetailApi.as_view(), name="payment"),
    path(
        "payments/<str:public_id>/capture",
        views.PaymentCaptureApi.as_view(),
        name="payment-capture",
    ),
    path(
        "payments/<str:public_id>/cancel", views.PaymentCancelApi.as_view(), name="payment-cancel"
    ),
    path(
        "payments/<str:public_id>/refunds",
        views.PaymentRefundsApi.as_view(),
        name="payment-refunds",
    ),
    path("disputes", dispute_views.DisputesApi.as_view(), name="disputes"),
    path("disputes/<str:public_id>", dispute_views.DisputeDetailApi.as_view(), name="dispute"),
    path(
        "disputes/<str:public_id>/evidence",
        dispute_views.DisputeEvidenceApi.as_view(),
        name="dispute-evidence",
    ),
    path("balance", money.BalanceApi.as_view(), name="balance"),
    path("payouts", money.PayoutsApi.as_view(), name="payouts"),
    path("payouts/<str:public_id>", money.PayoutDetailApi.as_view(), name="payout"),
    path(
        "balance-transactions",
        money.BalanceTransactionsApi.as_view(),
        name="balance-transactions",
    ),
    path("customers", views.CustomersApi.as_view(), name="customers"),
    path("customers/<str:public_id>", views.CustomerDetailApi.as_view(), name="customer"),
    path("payment-links", views.PaymentLinksApi.as_view(), name="payment-links"),
    path(
        "payment-links/<str:public_id>",
        views.PaymentLinkDetailApi.as_view(),
        name="payment-link",
    ),
    path(
        "payment-links/<str:public_id>/deactivate",
        views.PaymentLinkDeactivateApi.as_view(),
        name="payment-link-deactivate",
    ),
]
