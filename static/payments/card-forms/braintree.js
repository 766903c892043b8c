/* The pay page's card form on Braintree: Drop-in with Hosted Fields (or the sandbox's
 * stand-in), authorised by the client token the server put in `data-publishable-key`.
 *
 * Registers `window.ledgerlineCardForms.braintree(form, container)` for pay.js. The card
 * fields are an iframe on Braintree's origin; 3-D Secure runs in Braintree's own client flow
 * (`threeDSecure` with the amount), so the page receives only a payment method nonce, the
 * only thing it posts.
 */
(function () {
  "use strict";
  var forms = (window.ledgerlineCardForms = window.ledgerlineCardForms || {});
  forms.braintree = function (form, container) {
    if (!window.braintree || !window.braintree.dropin) return Promise.reject(new Error("not loaded"));
    return window.braintree.dropin.create({
      authorization: form.dataset.publishableKey,
      container: container,
      threeDSecure: true
    }).then(function (dropin) {
      return {
        // Hosted Fields check the card inside their own frame, when the customer pays.
        onChange: function () {},
        startsComplete: true,
        tokenize: function () {
          return dropin.requestPaymentMethod({ threeDSecure: { amount: form.dataset.amount } })
            .then(function (payload) {
              if (payload.liabilityShiftPossible && !payload.liabilityShifted) {
                return { error: "We could not authenticate your card, so it was not charged. " +
                  "Try again or use another card." };
              }
              return { token: payload.nonce };
            }, function (error) {
              return { error: (error && error.message) || "" };
            });
        }
      };
    });
  };
})();
