"""Switching the merchant a session works in (only among the user's own memberships)."""

from __future__ import annotations

from django.http import HttpRequest

from accounts import session_security
from accounts.exceptions import MerchantNotFoundError
from accounts.models import Membership
from accounts.services.users import acting_user
from compliance.actors import Actor
from compliance.services import audit_record


def merchant_switch(*, request: HttpRequest, merchant_public_id: str) -> Membership:
    """Make another of the user's merchants current; any other merchant is 'not found'."""
    user = acting_user(request)
    membership = (
        Membership.objects.select_related("merchant")
        .filter(user=user, merchant__public_id=merchant_public_id)
        .first()
    )
    if membership is None:
        raise MerchantNotFoundError()
    previous = getattr(request, "merchant", None)
    request.session[session_security.CURRENT_MERCHANT] = membership.merchant.public_id
    audit_record(
        action="merchant.switched",
        request=request,
        actor=Actor.for_user(user),
        merchant_id=membership.merchant.public_id,
        target_type="merchant",
        target_id=membership.merchant.public_id,
        payload={"from": previous.public_id if previous is not None else None},
    )
    return membership
