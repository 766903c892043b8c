"""The card form in a real browser: the number reaches only the sandbox, the page gets a pm_.

A merchant-like page is served from its own origin (another port) and loads the sandbox's
Stripe.js stand-in, exactly as Ledgerline's payment page will. Every request the browser makes,
from the page and from the iframe, is recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.conftest import make_client
from tests.sandbox.merchant_site import Merchant, merchant_site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
PUBLISHABLE_KEY = "pk_test_ledgerline_sandbox"
CARD = "4242 4242 4242 4242"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Merchant checkout</title>
<script src="SANDBOX/v3/"></script></head>
<body>
<h1>Pay Acme</h1>
<div id="card-element"></div>
<button id="pay">Pay</button>
<pre id="result"></pre>
<script>
  const stripe = Stripe("PK", ACCOUNT);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const params = new URLSearchParams(location.search);
  document.getElementById("pay").addEventListener("click", async () => {
    let result;
    if (params.get("client_secret")) {
      result = await stripe.confirmCardPayment(params.get("client_secret"),
        {payment_method: {card, billing_details: {name: "Ada"}}});
    } else {
      result = await stripe.createPaymentMethod(
        {type: "card", card, billing_details: {name: "Ada"}});
    }
    // What a merchant page sends its own server: the result, never card data.
    await fetch("/pay", {method: "POST", headers: {"Content-Type": "application/json"},
                         body: JSON.stringify(result)});
    document.getElementById("result").textContent = JSON.stringify(result);
  });
</script>
</body></html>
"""


@contextmanager
def stripe_merchant_site(sandbox_url: str, account: str | None) -> Iterator[Merchant]:
    options = json.dumps({"stripeAccount": account} if account else {})
    page = (
        PAGE.replace("SANDBOX", sandbox_url)
        .replace("PK", PUBLISHABLE_KEY)
        .replace("ACCOUNT", options)
    )
    with merchant_site(page) as merchant:
        yield merchant


@pytest.fixture
def browser_page(page: Any) -> Any:
    """The suite's shared Chromium page (tests/conftest.py)."""
    return page


@dataclass
class Seen:
    url: str
    method: str
    body: str


def _record(page: Any) -> list[Seen]:
    seen: list[Seen] = []
    page.on("request", lambda r: seen.append(Seen(r.url, r.method, r.post_data or "")))
    return seen


def _type_card(page: Any, number: str) -> None:
    frame = page.frame_locator("iframe[name^='ll-card']")
    frame.locator("#number").press_sequentially(number)
    frame.locator("#exp").press_sequentially("1234")
    frame.locator("#cvc").press_sequentially("123")


def _result(page: Any) -> dict[str, Any]:
    page.wait_for_function(
        "document.getElementById('result').textContent.length > 0", timeout=15000
    )
    return json.loads(page.inner_text("#result"))


def _assert_number_only_reached_the_sandbox(
    seen: list[Seen], merchant: Merchant, sandbox_url: str, digits: str
) -> None:
    carrying = [s for s in seen if digits in re.sub(r"\D", "", s.url + s.body)]
    assert carrying, "the card number should have been posted to the sandbox"
    assert all(s.url.startswith(sandbox_url + "/v1/payment_methods") for s in carrying)
    assert not any(
        s.url.startswith(merchant.url) and digits in re.sub(r"\D", "", s.url + s.body) for s in seen
    )
    assert all(digits not in re.sub(r"\D", "", post.decode()) for post in merchant.posts)


def test_card_form_returns_a_payment_method_without_leaking_the_number(sandbox, browser_page):
    page = browser_page
    seen = _record(page)
    with stripe_merchant_site(sandbox.url, None) as merchant:
        page.goto(merchant.url)
        _type_card(page, CARD)
        page.click("#pay")
        result = _result(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "sandbox-card-form.png"))
    pm = result["paymentMethod"]
    assert pm["id"].startswith("pm_")
    assert (pm["card"]["brand"], pm["card"]["last4"]) == ("visa", "4242")
    assert json.loads(merchant.posts[0])["paymentMethod"]["id"] == pm["id"]
    _assert_number_only_reached_the_sandbox(seen, merchant, sandbox.url, CARD.replace(" ", ""))


def test_three_d_secure_in_the_browser_on_a_connected_account(sandbox, browser_page):
    client = make_client(sandbox.url)
    account = client.v1.accounts.create(params={"type": "express"})
    pi = client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "payment_method_types": ["card"]},
        options={"stripe_account": account.id},
    )
    page = browser_page
    seen = _record(page)
    with stripe_merchant_site(sandbox.url, account.id) as merchant:
        page.goto(f"{merchant.url}/?client_secret={pi.client_secret}")
        _type_card(page, "4000 0025 0000 3155")
        page.click("#pay")
        challenge = page.frame_locator("iframe[title='3D Secure authentication']")
        challenge.locator("#approve").wait_for(timeout=15000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "sandbox-3ds-challenge.png"))
        challenge.locator("#approve").click()
        result = _result(page)
    assert result["paymentIntent"]["status"] == "succeeded"
    done = client.v1.payment_intents.retrieve(pi.id, options={"stripe_account": account.id})
    assert done.status == "succeeded"
    _assert_number_only_reached_the_sandbox(seen, merchant, sandbox.url, "4000002500003155")


def test_declined_card_comes_back_as_an_error(sandbox, browser_page):
    client = make_client(sandbox.url)
    pi = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method_types": ["card"]}
    )
    page = browser_page
    with stripe_merchant_site(sandbox.url, None) as merchant:
        page.goto(f"{merchant.url}/?client_secret={pi.client_secret}")
        _type_card(page, "4000 0000 0000 0002")
        page.click("#pay")
        result = _result(page)
    assert result["error"]["decline_code"] == "generic_decline"
