"""Accounts writes, one module per concern; this module names what accounts offers.

- `sessions`: session ends and password changes; `tenancy`: switching merchants.
- `mfa`: OTP checks, TOTP enrolment, backup codes, reset; `enrolment`: enrolment links.
- `team`: memberships and the owner rules; `invitations`: invitations to a team.
- `api_keys`: minting and revoking API keys. `users`: the acting user and the audit entry
  about their own account.

Every security-relevant change writes its audit entry inside the same transaction as the
change. Audit payloads carry pseudonymous public ids and roles only: never an email address,
a password, a one-time code, an invitation or enrolment token or an API key secret.

Other apps and accounts' own views and commands import from here only.
"""

from accounts.services.api_keys import (
    API_KEY_NAME_MAX_LENGTH,
    api_key_create,
    api_key_revoke,
    api_key_role_allowed,
)
from accounts.services.enrolment import (
    IssuedEnrolmentLink,
    enrolment_link_granted,
    enrolment_link_issue,
    enrolment_link_issue_for_member,
    enrolment_link_open,
)
from accounts.services.invitations import (
    CreatedInvitation,
    NewMember,
    invitation_email_send,
    invitation_revoke,
    invite_accept,
    invite_accept_new_user,
    membership_invite,
)
from accounts.services.mfa import (
    Enrollment,
    OtpCheck,
    backup_codes_regenerate,
    mfa_reset,
    otp_verify,
    totp_device_confirm,
    totp_device_pending,
)
from accounts.services.sessions import password_change, session_expired, user_logout
from accounts.services.team import membership_remove, membership_role_change
from accounts.services.tenancy import merchant_switch

__all__ = [
    "API_KEY_NAME_MAX_LENGTH",
    "CreatedInvitation",
    "Enrollment",
    "IssuedEnrolmentLink",
    "NewMember",
    "OtpCheck",
    "api_key_create",
    "api_key_revoke",
    "api_key_role_allowed",
    "backup_codes_regenerate",
    "enrolment_link_granted",
    "enrolment_link_issue",
    "enrolment_link_issue_for_member",
    "enrolment_link_open",
    "invitation_email_send",
    "invitation_revoke",
    "invite_accept",
    "invite_accept_new_user",
    "membership_invite",
    "membership_remove",
    "membership_role_change",
    "merchant_switch",
    "mfa_reset",
    "otp_verify",
    "password_change",
    "session_expired",
    "totp_device_confirm",
    "totp_device_pending",
    "user_logout",
]
