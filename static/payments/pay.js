/* Payment link page: mounts the processor's card form and posts only the PaymentMethod id.
 *
 * The same code runs against real Stripe.js (https://js.stripe.com/v3/) and the sandbox's
 * stand-in. Card fields live in the processor's iframe; this page only ever sees the
 * resulting `pm_...` id, brand and last 4, so no card data can reach Ledgerline's server.
 *
 * The payment is posted with fetch and answered in JSON (payments.public_views.
 * answers_pay_script): a page to go to, or a message. Any other answer (a proxy's 502, an HTML
 * error page, no answer) becomes a sentence for the customer; the form keeps its attempt
 * token, so pressing Pay again finishes the same attempt and can never charge twice.
 */
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) return;
  var button = document.getElementById("pay-button");
  var errorBox = document.getElementById("pay-error");
  var errorText = document.getElementById("pay-error-text");
  var loading = form.querySelector(".pay-loading");
  var payLabel = button.textContent;
  // Set when the message on screen came from the card form, so typing may clear it; a decline
  // from the server stays until the next attempt.
  var fieldError = false;

  function showError(message) {
    fieldError = false;
    errorText.textContent = message;
    errorBox.hidden = !message;
    if (message) errorBox.focus();
  }

  if (!errorBox.hidden) errorBox.focus();

  if (typeof window.Stripe !== "function") {
    showError("The secure card form could not load. Check your connection and reload the page.");
    return;
  }

  var options = {};
  if (form.dataset.stripeAccount) options.stripeAccount = form.dataset.stripeAccount;
  var stripe = window.Stripe(form.dataset.publishableKey, options);
  var card = stripe.elements().create("card");
  var complete = false;
  var busy = false;
  card.mount("#card-element");
  if (loading) loading.remove();

  card.on("change", function (event) {
    complete = !!event.complete;
    // Field-level problems are announced as the customer types, without moving focus.
    if (event.error) {
      fieldError = true;
      errorText.textContent = event.error.message;
      errorBox.hidden = false;
    } else if (fieldError) {
      fieldError = false;
      errorText.textContent = "";
      errorBox.hidden = true;
    }
    button.disabled = busy || !complete;
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    // One PaymentMethod and one POST per click; the server also joins repeated posts.
    if (busy || !complete) return;
    busy = true;
    button.disabled = true;
    button.textContent = "Processing…";
    showError("");
    stripe.createPaymentMethod({ type: "card", card: card }).then(function (result) {
      if (result.error) {
        busy = false;
        button.disabled = !complete;
        button.textContent = payLabel;
        showError(result.error.message || "Your card details could not be checked. Try again.");
        return;
      }
      form.elements.payment_method.value = result.paymentMethod.id;
      return submitPayment();
    }, function () {
      ready("The payment service did not answer. Check your connection and try again.");
    });
  });

  function ready(message) {
    busy = false;
    button.disabled = !complete;
    button.textContent = payLabel;
    showError(message);
  }

  function submitPayment() {
    return window.ledgerlineAnswer(fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new FormData(form)
    }), "We cannot tell yet whether your payment went through: press Pay again to finish " +
      "it. This payment can never be charged twice.").then(function (reply) {
      var answer = reply.data;
      if (answer && answer.redirect) {
        window.location.assign(answer.redirect);
        return;
      }
      if (answer && answer.attempt) form.elements.attempt.value = answer.attempt;
      ready((answer && answer.error) || "We could not take this payment. Please try again.");
    }).catch(function (error) {
      ready(error.message);
    });
  }
})();
