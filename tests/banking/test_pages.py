"""Bank pages against the sandbox Plaid: the merchant's Bank accounts page and the customer's
/link/<token>/ page, driven as the page's script does (Link's steps, then a JSON POST)."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from banking import services
from banking.models import BankLinkSession, BankLinkSessionStatus, PlaidItem, VerificationState
from compliance.actors import Actor
from tests.banking.linking import (
    SAME_DAY_ACCOUNT,
    SAME_DAY_ROUTING,
    LinkError,
    PlaidSandbox,
    new_customer,
    new_session,
)
from tests.factories import member, verified_client

pytestmark = pytest.mark.django_db
LINK_TOKEN = re.compile(r'data-link-token="([^"]+)"')


def _post(client: Client, path: str, body: object) -> tuple[int, dict[str, object]]:
    response = client.post(path, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def _page_link_token(client: Client, path: str) -> tuple[str, str]:
    """(page HTML, the Link token the page opens Link with)."""
    html = client.get(path).content.decode()
    found = LINK_TOKEN.search(html)
    assert found, "the page offers no Link"
    return html, found.group(1)


def _link_through_page(
    plaid: PlaidSandbox, client: Client, path: str, flow: str, **choices: object
) -> tuple[int, dict[str, object]]:
    """What a customer does on the page: open Link, finish it, the script posts the result."""
    _, link_token = _page_link_token(client, path)
    done = plaid.run_link(link_token, flow, **choices)
    return _post(
        client,
        path,
        {"action": "success", "public_token": done["public_token"], "metadata": done["metadata"]},
    )


def test_merchant_creates_a_session_and_sees_its_url_once() -> None:
    customer = new_customer()
    owner = member(Role.OWNER, customer.merchant)
    client = verified_client(owner.user, merchant=customer.merchant)
    response = client.post(reverse("bank-link-session-create"), {"customer": customer.public_id})
    assert response.status_code == 200
    session = BankLinkSession.objects.get()
    assert "/link/" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    again = client.get(reverse("bank-accounts")).content.decode()
    assert "/link/" not in again
    assert session.token_hash not in again


def test_a_viewer_sees_accounts_but_cannot_create_sessions() -> None:
    customer = new_customer()
    viewer = member(Role.VIEWER, customer.merchant)
    client = verified_client(viewer.user, merchant=customer.merchant)
    assert client.get(reverse("bank-accounts")).status_code == 200
    response = client.post(reverse("bank-link-session-create"), {"customer": customer.public_id})
    assert response.status_code == 403
    assert not BankLinkSession.objects.exists()


def test_another_merchants_customer_gets_a_form_error() -> None:
    owner = member(Role.OWNER)
    other = new_customer()
    client = verified_client(owner.user, merchant=owner.merchant)
    response = client.post(reverse("bank-link-session-create"), {"customer": other.public_id})
    assert response.status_code == 400
    assert not BankLinkSession.objects.exists()


def test_the_link_page_loads_link_from_the_sandbox_origin_with_a_widened_csp(
    plaid: PlaidSandbox,
) -> None:
    new = new_session()
    response = Client().get(new.path)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert f'src="{plaid.url}/link/v2/stable/link-initialize.js"' in html
    assert "banking/link.js" in html
    csp = response["Content-Security-Policy"]
    for directive in ("script-src", "frame-src", "connect-src"):
        assert plaid.url in next(p for p in csp.split(";") if p.strip().startswith(directive))
    # The page's token opens a new Link whose item will post webhooks to /webhooks/plaid/.
    link_token = LINK_TOKEN.search(html).group(1)  # type: ignore[union-attr]
    start = plaid.step("start", link_token=link_token)
    assert (start["mode"], start["same_day"]) == ("new", True)


def test_an_instantly_verified_link_shows_the_account_as_verified(plaid: PlaidSandbox) -> None:
    new = new_session()
    client = Client()
    status, body = _link_through_page(plaid, client, new.path, "instant")
    assert (status, body["ok"]) == (200, True)
    page = client.get(new.path).content.decode()
    assert VerificationState.VERIFIED.label in page
    assert "Plaid Checking" in page
    assert "data-link-token" not in page
    bank_account = new.session.merchant.bank_accounts.get()
    assert bank_account.verification_state == VerificationState.VERIFIED
    webhook = plaid.item(PlaidItem.objects.get())["webhook"]
    assert webhook == "http://testserver/webhooks/plaid/"


def test_pending_code_shows_attempts_left_counting_down_to_failed(plaid: PlaidSandbox) -> None:
    new = new_session()
    client = Client()
    assert _link_through_page(plaid, client, new.path, "same_day")[0] == 200
    page, link_token = _page_link_token(client, new.path)
    assert "3 attempts left" in page
    assert "Continue with your bank" in page
    # The page's token reopens Link on the same item, asking for the code.
    for left in (2, 1):
        with pytest.raises(LinkError, match="INCORRECT_DEPOSIT_VERIFICATION"):
            plaid.run_link(link_token, "verify", code="XYZ")
        assert _post(client, new.path, {"action": "code_rejected"})[0] == 200
        page, link_token = _page_link_token(client, new.path)
        assert f"{left} attempt{'s' if left > 1 else ''} left" in page
    with pytest.raises(LinkError, match="TOO_MANY_VERIFICATION_ATTEMPTS"):
        plaid.run_link(link_token, "verify", code="XYZ")
    assert _post(client, new.path, {"action": "code_rejected"})[0] == 200
    page = client.get(new.path).content.decode()
    assert VerificationState.FAILED.label in page
    assert "data-link-token" not in page


def test_the_right_code_through_the_page_verifies(plaid: PlaidSandbox) -> None:
    new = new_session()
    client = Client()
    _link_through_page(plaid, client, new.path, "same_day")
    status, body = _link_through_page(plaid, client, new.path, "verify", code="ABC")
    assert (status, body["ok"]) == (200, True)
    page = client.get(new.path).content.decode()
    assert VerificationState.VERIFIED.label in page
    assert new.session.merchant.bank_accounts.get().can_move_money


def test_a_login_error_reopens_link_in_update_mode_on_the_same_item(plaid: PlaidSandbox) -> None:
    new = new_session()
    client = Client()
    _link_through_page(plaid, client, new.path, "instant")
    item = PlaidItem.objects.get()
    plaid.for_item(item, "/sandbox/item/reset_login")
    services.plaid_item_sync(item=item, actor=Actor.system("tests"), webhook_code="ERROR")
    page, link_token = _page_link_token(client, new.path)
    assert "Continue with your bank" in page
    assert "sign in again" in page
    assert plaid.step("start", link_token=link_token)["mode"] == "update"
    status, _ = _link_through_page(plaid, client, new.path, "update")
    assert status == 200
    item.refresh_from_db()
    assert item.status == "active"
    assert "sign in again" not in client.get(new.path).content.decode()
    assert PlaidItem.objects.count() == 1
    assert item.accounts.count() == 1


def test_plaid_down_shows_a_503_page_not_a_crash(plaid: PlaidSandbox) -> None:
    new = new_session()
    plaid.control.add_fault("error_500", count=3, path="/link/token/create")
    response = Client().get(new.path)
    assert response.status_code == 503
    assert "unavailable right now" in response.content.decode()
    assert "data-link-token" not in response.content.decode()


def test_a_public_token_plaid_does_not_know_is_refused_with_4xx(plaid: PlaidSandbox) -> None:
    new = new_session()
    status, body = _post(
        Client(), new.path, {"action": "success", "public_token": "public-sandbox-forged"}
    )
    assert 400 <= status < 500
    assert "error" in body
    new.session.refresh_from_db()
    assert new.session.status == BankLinkSessionStatus.OPEN


def test_a_card_number_in_the_link_metadata_is_refused_and_nothing_stored(db) -> None:
    """The page's JSON carries display names from the browser; a card number in them is a
    400 `card_number` before Plaid is called, and the session stays open."""
    new = new_session()
    status, body = _post(
        Client(),
        new.path,
        {
            "action": "success",
            "public_token": "public-sandbox-forged",
            "metadata": {"institution": {"name": "Bank 4012 8888 8888 1881"}},
        },
    )
    assert (status, body["error"]["code"]) == (400, "card_number")  # type: ignore[index]
    assert "4012" not in json.dumps(body)
    new.session.refresh_from_db()
    assert new.session.status == BankLinkSessionStatus.OPEN


def test_pages_and_link_json_never_carry_tokens_or_full_numbers(plaid: PlaidSandbox) -> None:
    """Every page and JSON answer of the instant and same-day flows, grepped for the access
    tokens, public tokens and full account / routing numbers the sandbox issued."""
    shown: list[str] = []
    client = Client()
    public_tokens: list[str] = []
    for flow in ("instant", "same_day"):
        new = new_session()
        _, link_token = _page_link_token(client, new.path)
        done = plaid.run_link(link_token, flow)
        public_tokens.append(done["public_token"])
        response = client.post(
            new.path,
            json.dumps({"action": "success", "public_token": done["public_token"]}),
            content_type="application/json",
        )
        shown += [response.content.decode(), client.get(new.path).content.decode()]
        if flow == "same_day":
            shown.append(
                client.post(
                    new.path, b'{"action": "code_rejected"}', "application/json"
                ).content.decode()
            )
    merchant_owners = [
        verified_client(member(Role.OWNER, item.merchant).user, merchant=item.merchant)
        for item in PlaidItem.objects.all()
    ]
    shown += [c.get(reverse("bank-accounts")).content.decode() for c in merchant_owners]
    secrets = [*public_tokens]
    for item in PlaidItem.objects.all():
        secrets.append(services.plaid_item_access_token(item=item))
        for account in plaid.item(item)["accounts"]:
            secrets += [account["account_number"], account["routing"]]
    assert SAME_DAY_ACCOUNT in secrets
    assert SAME_DAY_ROUTING in secrets
    text = "\n".join(shown)
    assert "Plaid Checking" in text  # the grep reads real pages
    assert "access-sandbox-" not in text
    for secret in secrets:
        assert secret not in text


def test_an_expired_link_answers_410() -> None:
    new = new_session()
    BankLinkSession.objects.filter(pk=new.session.pk).update(expires_at=timezone.now())
    assert Client().get(new.path).status_code == 410


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"action": 1}', b'{"action": "success"}', b'{"action": "x"}'],
)
def test_garbage_posts_answer_4xx(body: bytes) -> None:
    new = new_session()
    response = Client().post(new.path, body, content_type="application/json")
    assert 400 <= response.status_code < 500
    new.session.refresh_from_db()
    assert new.session.status == BankLinkSessionStatus.OPEN


@pytest.mark.parametrize("token", ["x", "a" * 43, "%00", "a" * 300])
def test_unknown_tokens_answer_404(token: str) -> None:
    assert Client().get(f"/link/{token}/").status_code == 404


def test_an_unknown_page_cursor_shows_the_newest_accounts_with_a_message() -> None:
    """?after= with a well-formed id that names no account of this merchant is not a 500."""
    owner = member(Role.OWNER)
    client = verified_client(owner.user, merchant=owner.merchant)
    response = client.get(reverse("bank-accounts"), {"after": "ba_doesnotexist123"})
    assert response.status_code == 200
    assert "no longer available" in response.content.decode()
