"""The Braintree card form in a real browser: the number reaches only the sandbox, the page
gets a nonce that the SDK can charge, and 3-D Secure challenges in an overlay."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.sandbox.braintree.conftest import make_gateway
from tests.sandbox.merchant_site import merchant_site

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Merchant checkout</title>
<script src="SANDBOX/braintree/web/braintree.js"></script></head>
<body>
<h1>Pay Acme</h1>
<div id="dropin"></div>
<button id="pay">Pay</button>
<pre id="result"></pre>
<script>
  braintree.dropin.create({authorization: "TOKEN", container: "#dropin", threeDSecure: true})
    .then(function (instance) {
      document.getElementById("pay").addEventListener("click", function () {
        instance.requestPaymentMethod({threeDSecure: {amount: "42.00"}}).then(function (payload) {
          // What a merchant page sends its own server: the nonce, never card data.
          return fetch("/pay", {method: "POST", body: JSON.stringify(payload),
                                headers: {"Content-Type": "application/json"}})
            .then(function () { return payload; });
        }).then(function (payload) {
          document.getElementById("result").textContent = JSON.stringify(payload);
        }, function (error) {
          document.getElementById("result").textContent = JSON.stringify({error: error.message});
        });
      });
    });
</script>
</body></html>
"""


def _checkout(sandbox, page: Any, number: str, *, outcome: str | None = None):
    token = make_gateway(sandbox).client_token.generate()
    seen: list[tuple[str, str]] = []
    page.on("request", lambda r: seen.append((r.url, r.post_data or "")))
    html = PAGE.replace("SANDBOX", sandbox.url).replace("TOKEN", token)
    with merchant_site(html) as merchant:
        page.goto(merchant.url)
        frame = page.frame_locator("iframe[name^='braintree-hosted-field']")
        frame.locator("#number").fill(number)
        frame.locator("#expiration").fill("12/30")
        frame.locator("#cvv").fill("123")
        page.click("#pay")
        if outcome is not None:
            challenge = page.frame_locator("iframe[title='3-D Secure authentication']")
            challenge.locator(f"button[value='{outcome}']").click()
        page.wait_for_function("document.getElementById('result').textContent.length > 0")
        result = json.loads(page.inner_text("#result"))
    digits = number.replace(" ", "")
    carrying = [url for url, body in seen if digits in re.sub(r"\D", "", url + body)]
    assert carrying
    assert all(url.startswith(sandbox.url + "/merchants/") for url in carrying)
    assert all(digits not in re.sub(r"\D", "", post.decode()) for post in merchant.posts)
    return result


def test_card_form_gives_a_nonce_the_sdk_charges(sandbox, page):
    result = _checkout(sandbox, page, "4111 1111 1111 1111")
    assert result["details"]["lastFour"] == "1111"
    assert result["liabilityShiftPossible"] is False
    sale = make_gateway(sandbox).transaction.sale(
        {"amount": "42.00", "payment_method_nonce": result["nonce"]}
    )
    assert sale.is_success
    assert sale.transaction.credit_card_details.last_4 == "1111"


def test_three_d_secure_challenge_passed_shifts_liability(sandbox, page):
    result = _checkout(sandbox, page, "4000 0000 0000 1091", outcome="approve")
    assert result["liabilityShifted"] is True
    sale = make_gateway(sandbox).transaction.sale(
        {
            "amount": "42.00",
            "payment_method_nonce": result["nonce"],
            "options": {"three_d_secure": {"required": True}},
        }
    )
    assert sale.is_success
    assert sale.transaction.three_d_secure_info.status == "authenticate_successful"


def test_three_d_secure_challenge_failed_is_rejected_when_required(sandbox, page):
    result = _checkout(sandbox, page, "4000 0000 0000 1091", outcome="fail")
    assert result["liabilityShifted"] is False
    sale = make_gateway(sandbox).transaction.sale(
        {
            "amount": "42.00",
            "payment_method_nonce": result["nonce"],
            "options": {"three_d_secure": {"required": True}},
        }
    )
    assert sale.transaction.gateway_rejection_reason == "three_d_secure"


def test_a_number_that_is_not_a_test_card_is_refused_in_the_form(sandbox, page):
    result = _checkout(sandbox, page, "4111 1111 1111 1129")
    assert "test number" in result["error"]
