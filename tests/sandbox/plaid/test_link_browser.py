"""The Link stand-in in Chromium: a page on another origin gets a public token, nothing more.

The merchant page is served from its own port, loads the sandbox's link-initialize.js as
Ledgerline's bank-link page will, and posts what onSuccess gives it to its own server. Every
request the browser makes is recorded, to prove credentials and numbers never reach it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest

from tests.sandbox.merchant_site import Merchant, merchant_site
from tests.sandbox.plaid.conftest import link_token, make_plaid

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Link your bank</title>
<script src="SANDBOX/link/v2/stable/link-initialize.js"></script></head>
<body><button id="link">Link account</button><pre id="result"></pre><pre id="events"></pre>
<script>
  const events = [];
  const handler = Plaid.create({
    token: "TOKEN",
    onEvent: (name) => {
      events.push(name);
      document.getElementById("events").textContent = events.join(",");
    },
    onSuccess: async (public_token, metadata) => {
      await fetch("/linked", {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify({public_token, metadata})});
      document.getElementById("result").textContent = JSON.stringify({public_token, metadata});
    },
    onExit: (error, metadata) => {
      document.getElementById("result").textContent = JSON.stringify({exit: true, error, metadata});
    },
  });
  document.getElementById("link").addEventListener("click", () => handler.open());
</script></body></html>
"""


@contextmanager
def plaid_merchant_site(sandbox_url: str, token: str) -> Iterator[Merchant]:
    with merchant_site(PAGE.replace("SANDBOX", sandbox_url).replace("TOKEN", token)) as merchant:
        yield merchant


def _result(page: Any) -> dict[str, Any]:
    page.wait_for_function("document.getElementById('result').textContent.length > 0")
    return json.loads(page.inner_text("#result"))


def _record(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url + " " + (r.post_data or "")))
    return seen


def test_instant_auth_link_hands_the_page_only_a_public_token(sandbox, page, screenshot):
    client = make_plaid(sandbox.url)
    seen = _record(page)
    with plaid_merchant_site(sandbox.url, link_token(client)) as merchant:
        page.goto(merchant.url)
        page.click("#link")
        modal = page.frame_locator("iframe[name='plaid-link-iframe']")
        modal.get_by_role("button", name="First Platypus Bank").click()
        modal.locator("#username").fill("user_bad")
        modal.locator("#password").fill("pass_good")
        modal.locator("#submit-login").click()
        modal.locator("#error").filter(has_text="credentials").wait_for()
        modal.locator("#username").fill("user_good")
        modal.locator("#submit-login").click()
        modal.locator("#continue").wait_for()
        screenshot("plaid-link-select")
        modal.locator("#continue").click()
        result = _result(page)
        events = page.inner_text("#events").split(",")
    assert result["public_token"].startswith("public-sandbox-")
    assert result["metadata"]["institution"]["institution_id"] == "ins_109508"
    assert result["metadata"]["accounts"][0]["mask"] == "0000"
    assert {"OPEN", "SELECT_INSTITUTION", "SUBMIT_CREDENTIALS", "ERROR", "HANDOFF"} <= set(events)
    exchanged = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=result["public_token"])
    )
    accounts = client.accounts_get(AccountsGetRequest(access_token=exchanged.access_token))
    assert accounts.accounts[0].account_id == result["metadata"]["accounts"][0]["id"]
    # The merchant's origin got the public token only: no password, no access token, no numbers.
    to_merchant = [s for s in seen if s.startswith(merchant.url)] + [
        p.decode() for p in merchant.posts
    ]
    assert merchant.posts
    for text in to_merchant:
        assert "pass_good" not in text
        assert "access-sandbox" not in text
        assert "011401533" not in text


def test_same_day_code_is_entered_in_link_and_locks_after_three_misses(sandbox, page, screenshot):
    client = make_plaid(sandbox.url)
    with plaid_merchant_site(sandbox.url, link_token(client, same_day=True)) as merchant:
        page.goto(merchant.url)
        page.click("#link")
        modal = page.frame_locator("iframe[name='plaid-link-iframe']")
        modal.locator("#manual-entry").click()
        modal.locator("#routing").fill("110000000")
        modal.locator("#account").fill("1111222233330000")
        modal.locator("#name").fill("Ada Lovelace")
        modal.locator("#submit-manual").click()
        linked = _result(page)
    assert linked["metadata"]["accounts"][0]["verification_status"] == (
        "pending_manual_verification"
    )
    assert "1111222233330000" not in json.dumps(linked)
    access = client.item_public_token_exchange(
        ItemPublicTokenExchangeRequest(public_token=linked["public_token"])
    ).access_token

    page.goto("about:blank")
    with plaid_merchant_site(sandbox.url, link_token(client, access_token=access)) as merchant:
        page.goto(merchant.url)
        page.click("#link")
        modal = page.frame_locator("iframe[name='plaid-link-iframe']")
        for left in (2, 1):
            modal.locator("#code").fill("XYZ")
            modal.locator("#submit-code").click()
            modal.locator("#attempts").filter(has_text=f"{left} attempts left").wait_for()
        screenshot("plaid-link-same-day-attempts")
        modal.locator("#code").fill("QQQ")
        modal.locator("#submit-code").click()
        result = _result(page)
    assert result["exit"] is True
    assert result["error"]["error_code"] == "TOO_MANY_VERIFICATION_ATTEMPTS"
    account = client.accounts_get(AccountsGetRequest(access_token=access)).accounts[0]
    assert account.verification_status == "verification_failed"
