"""Users, merchants, memberships and roles, login, MFA and API-key authentication."""
