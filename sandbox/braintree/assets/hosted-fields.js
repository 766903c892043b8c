/* The card form inside the iframe (sandbox origin). It takes requests only from the page's
 * origin (named in the frame URL), posts the card to the sandbox's client API, and answers
 * the page with the nonce and card details: never the number. */
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  var origin = form.getAttribute("data-origin");
  var error = document.getElementById("error");

  function value(id) { return document.getElementById(id).value.replace(/\s+/g, ""); }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== origin || !data || data.source !== "ll-braintree" || data.type !== "tokenize") return;
    function answer(message) {
      message.source = "ll-braintree";
      message.requestId = data.requestId;
      event.source.postMessage(message, origin);
    }
    var expiration = value("expiration");
    if (!value("number") || !/^\d{1,2}\/\d{2,4}$/.test(expiration) || !/^\d{3,4}$/.test(value("cvv"))) {
      error.textContent = "Enter the card number, expiry (MM/YY) and CVV.";
      answer({ error: "All fields are empty or invalid." });
      return;
    }
    // The number goes to this frame's own origin only, whatever the page asks.
    var api = new URL(data.payload.clientApiUrl, window.location.href);
    if (api.origin !== window.location.origin) {
      answer({ error: "The client token is not for this payment processor." });
      return;
    }
    fetch(api.origin + api.pathname + "/v1/payment_methods/credit_cards", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        authorizationFingerprint: data.payload.fingerprint,
        creditCard: { number: value("number"), expirationDate: expiration, cvv: value("cvv") }
      })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          error.textContent = (body.error || {}).message || "The card was refused.";
          answer({ error: error.textContent });
          return;
        }
        error.textContent = "";
        var card = body.creditCards[0];
        answer({ payload: { nonce: card.nonce, type: card.type, description: card.description, details: card.details } });
      });
    }, function () {
      error.textContent = "The payment processor could not be reached.";
      answer({ error: error.textContent });
    });
  });
})();
