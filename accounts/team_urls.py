"""The team page of the current merchant, mounted at /team/."""

from django.urls import path

from accounts import team_views

app_name = "team"

urlpatterns = [
    path("", team_views.team_list, name="list"),
    path("invite/", team_views.team_invite, name="invite"),
    path("members/<str:member_id>/role/", team_views.team_role_change, name="role_change"),
    path("members/<str:member_id>/remove/", team_views.team_member_remove, name="remove"),
    path(
        "members/<str:member_id>/enrolment-link/",
        team_views.team_enrolment_link,
        name="enrolment_link",
    ),
    path(
        "invitations/<str:invitation_id>/revoke/",
        team_views.team_invitation_revoke,
        name="invitation_revoke",
    ),
]
