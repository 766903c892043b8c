from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("mfa/enroll/", views.mfa_enroll, name="mfa_enroll"),
    path("mfa/verify/", views.mfa_verify, name="mfa_verify"),
    path("mfa/step-up/", views.step_up, name="step_up"),
    path("switch/", views.switch_merchant, name="switch_merchant"),
    path("no-merchant/", views.no_merchant, name="no_merchant"),
]
