"""SKELETON - replaced by the accounts work (login, MFA, team)."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import Http404

login_view = login_not_required(auth_views.LoginView.as_view(template_name="accounts/login.html"))
logout_view = auth_views.LogoutView.as_view()


def _missing(request, *args, **kwargs):
    raise Http404


mfa_enroll = mfa_verify = step_up = switch_merchant = no_merchant = team_list = _missing
