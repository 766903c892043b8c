"""Errors of the accounts services, each with a stable code and HTTP status."""

from __future__ import annotations

from config.exceptions import ApplicationError, ConflictError, NotFoundError


class TeamPermissionError(ApplicationError):
    """The acting member's role does not allow this team change."""

    status_code = 403
    error_type = "permission_error"
    code = "team_permission_denied"
    default_message = "Your role does not allow this change."


class LastOwnerError(ConflictError):
    code = "last_owner"
    default_message = "A merchant must keep at least one owner."


class AlreadyMemberError(ConflictError):
    code = "already_member"
    default_message = "This person is already a member of the team."


class MemberNotFoundError(NotFoundError):
    default_message = "No such team member."


class InvitationInvalidError(NotFoundError):
    """Unknown, used, revoked or expired: callers never learn which."""

    code = "invitation_invalid"
    default_message = "This invitation is invalid or has expired."


class InvitationEmailMismatchError(ApplicationError):
    status_code = 403
    error_type = "permission_error"
    code = "invitation_email_mismatch"
    default_message = "This invitation was sent to a different email address."


class MerchantNotFoundError(NotFoundError):
    default_message = "No such merchant."


class AccountExistsError(ConflictError):
    code = "account_exists"
    default_message = "An account with this email address exists: log in to accept."


class InvalidRoleError(ApplicationError):
    code = "invalid_role"
    default_message = "Choose one of the listed roles."


class EnrolmentLinkInvalidError(NotFoundError):
    """Unknown, used, revoked, replaced or expired: callers never learn which."""

    code = "enrolment_link_invalid"
    default_message = "This enrolment link is invalid, was used already, or has expired."


class EnrolmentLinkRequiredError(ApplicationError):
    """A first authenticator needs an enrolment link: the password alone is not enough."""

    status_code = 403
    error_type = "permission_error"
    code = "enrolment_link_required"
    default_message = "Setting up your first authenticator needs an enrolment link."


class EnrolmentLinkRefusedError(ApplicationError):
    status_code = 409
    error_type = "invalid_request_error"
    code = "enrolment_link_refused"
    default_message = "This person has an authenticator already."
