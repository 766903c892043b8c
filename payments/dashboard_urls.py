"""Dashboard routes of payments: home, payments, customers, payment links, onboarding.

Names are not namespaced: the dashboard shell links to `home`, `payments`, `customers` and
`payment-links` directly.
"""

from django.urls import path

from payments import (
    balance_views,
    customer_views,
    dispute_views,
    link_views,
    overview_views,
    payout_request_views,
    views,
)

urlpatterns = [
    path("", overview_views.home, name="home"),
    path("account/onboarding/", views.account_onboarding, name="account-onboarding"),
    path(
        "account/onboarding/return/",
        views.account_onboarding_return,
        name="account-onboarding-return",
    ),
    path("payments/", views.payment_list, name="payments"),
    path("payments/export.csv", views.payment_export, name="payments-export"),
    path("payments/<str:public_id>/", views.payment_detail, name="payment-detail"),
    path("payments/<str:public_id>/capture/", views.payment_capture, name="payment-capture"),
    path("payments/<str:public_id>/cancel/", views.payment_cancel, name="payment-cancel"),
    path("payments/<str:public_id>/refund/", views.payment_refund, name="payment-refund"),
    path("payments/<str:public_id>/check/", views.payment_check, name="payment-check"),
    path("disputes/", dispute_views.dispute_list, name="disputes"),
    path("disputes/<str:public_id>/", dispute_views.dispute_detail, name="dispute-detail"),
    path(
        "disputes/<str:public_id>/evidence/",
        dispute_views.dispute_evidence,
        name="dispute-evidence",
    ),
    path("disputes/<str:public_id>/accept/", dispute_views.dispute_accept, name="dispute-accept"),
    path(
        "disputes/<str:public_id>/files/<str:file_id>/",
        dispute_views.dispute_file_download,
        name="dispute-file",
    ),
    path("balance/", balance_views.balance, name="balance"),
    path("balance/schedule/", balance_views.payout_schedule_update, name="payout-schedule-update"),
    path("balance/payouts/new/", payout_request_views.payout_create, name="payout-create"),
    path("balance/payouts/<str:public_id>/", balance_views.payout_detail, name="payout-detail"),
    path(
        "balance/payouts/<str:public_id>/export.csv",
        balance_views.payout_export,
        name="payout-export",
    ),
    path("customers/", customer_views.customer_list, name="customers"),
    path("customers/<str:public_id>/", customer_views.customer_detail, name="customer-detail"),
    path("payment-links/", link_views.payment_link_list, name="payment-links"),
    path("payment-links/new/", link_views.payment_link_create, name="payment-link-create"),
    path(
        "payment-links/<str:public_id>/deactivate/",
        link_views.payment_link_deactivate,
        name="payment-link-deactivate",
    ),
]
