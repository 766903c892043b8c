"""Account pages: login, logout, MFA, security settings, merchant switching, invitations."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("mfa/enroll/", views.mfa_enroll, name="mfa_enroll"),
    path("mfa/enroll/<str:token>/", views.enrolment_link, name="enrolment_link"),
    path("mfa/verify/", views.mfa_verify, name="mfa_verify"),
    path("mfa/step-up/", views.step_up, name="step_up"),
    path("mfa/backup-codes/", views.backup_codes, name="backup_codes"),
    path("mfa/reset/", views.mfa_reset, name="mfa_reset"),
    path("security/", views.security, name="security"),
    path("password/", views.password_change, name="password_change"),
    path("switch/", views.switch_merchant, name="switch_merchant"),
    path("no-merchant/", views.no_merchant, name="no_merchant"),
    path("invite/<str:token>/", views.invite_accept, name="invite_accept"),
]
