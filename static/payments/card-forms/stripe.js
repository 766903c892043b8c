/* The pay page's card form on Stripe: Stripe.js Elements (or the sandbox's stand-in).
 *
 * Registers `window.ledgerlineCardForms.stripe(form, container)` for pay.js: it mounts the
 * Card Element (an iframe on Stripe's origin) and turns the card into a PaymentMethod id,
 * the only thing the page ever posts.
 */
(function () {
  "use strict";
  var forms = (window.ledgerlineCardForms = window.ledgerlineCardForms || {});
  forms.stripe = function (form, container) {
    if (typeof window.Stripe !== "function") return Promise.reject(new Error("not loaded"));
    var options = {};
    if (form.dataset.processorAccount) options.stripeAccount = form.dataset.processorAccount;
    var stripe = window.Stripe(form.dataset.publishableKey, options);
    var card = stripe.elements().create("card");
    card.mount(container);
    return Promise.resolve({
      // Stripe says as the customer types whether the card is complete, and what is wrong.
      onChange: function (listener) {
        card.on("change", function (event) {
          listener({ complete: !!event.complete, error: event.error ? event.error.message : "" });
        });
      },
      startsComplete: false,
      tokenize: function () {
        return stripe.createPaymentMethod({ type: "card", card: card }).then(function (result) {
          if (result.error) return { error: result.error.message || "" };
          return { token: result.paymentMethod.id };
        });
      }
    });
  };
})();
