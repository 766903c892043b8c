/* Payment link page: mounts the processor's card form and posts only its one-time token.
 *
 * The form shown is the processor routing chose (`data-processor`): its adapter in
 * static/payments/card-forms/ (Stripe.js Elements, Braintree Drop-in; real or the sandbox's
 * stand-ins) mounts the card fields, which live in the processor's iframe, and turns the card
 * into a token (a PaymentMethod id, a nonce). This page only ever sees that token, so no card
 * data can reach Ledgerline's server.
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

  var complete = false;
  var busy = false;
  var cardForm = null;
  var builder = (window.ledgerlineCardForms || {})[form.dataset.processor];
  var mounted = builder ? builder(form, "#card-element") : Promise.reject(new Error("none"));

  mounted.then(function (instance) {
    cardForm = instance;
    if (loading) loading.remove();
    complete = instance.startsComplete;
    button.disabled = !complete;
    instance.onChange(function (state) {
      complete = state.complete;
      // Field-level problems are announced as the customer types, without moving focus.
      if (state.error) {
        fieldError = true;
        errorText.textContent = state.error;
        errorBox.hidden = false;
      } else if (fieldError) {
        fieldError = false;
        errorText.textContent = "";
        errorBox.hidden = true;
      }
      button.disabled = busy || !complete;
    });
  }, function () {
    showError("The secure card form could not load. Check your connection and reload the page.");
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    // One payment method token and one POST per click; the server also joins repeated posts.
    if (busy || !complete || !cardForm) return;
    busy = true;
    button.disabled = true;
    button.textContent = "Processing…";
    showError("");
    cardForm.tokenize().then(function (result) {
      if (!result.token) {
        busy = false;
        button.disabled = !complete;
        button.textContent = payLabel;
        showError(result.error || "Your card details could not be checked. Try again.");
        return;
      }
      form.elements.payment_method.value = result.token;
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
