/* Ledgerline sandbox: a stand-in for Stripe.js v3 (https://js.stripe.com/v3/).
 *
 * Same calls as the real library for what Ledgerline uses: Stripe(pk, {stripeAccount}),
 * elements().create('card').mount(el), createPaymentMethod, confirmCardPayment,
 * handleNextAction / handleCardAction, retrievePaymentIntent, and for US bank accounts
 * collectBankAccountForSetup, confirmUsBankAccountSetup, retrieveSetupIntent. The card fields live in an
 * iframe on the sandbox origin; the card number is posted only to the sandbox, and the page
 * only ever receives the resulting PaymentMethod (brand and last 4, like Stripe.js).
 */
(function () {
  "use strict";
  var SANDBOX = new URL(document.currentScript.src).origin;
  var nextId = 0;
  var pending = {};   // requestId -> resolve
  var elementsById = {};

  function encode(params, prefix, out) {
    out = out || [];
    Object.keys(params || {}).forEach(function (name) {
      var value = params[name];
      var key = prefix ? prefix + "[" + name + "]" : name;
      if (value === undefined || value === null) return;
      if (typeof value === "object") encode(value, key, out);
      else out.push(encodeURIComponent(key) + "=" + encodeURIComponent(String(value)));
    });
    return out.join("&");
  }

  function api(stripe, method, path, params) {
    var headers = { Authorization: "Bearer " + stripe._key };
    if (stripe._account) headers["Stripe-Account"] = stripe._account;
    var url = SANDBOX + path;
    var init = { method: method, headers: headers };
    if (method === "GET") url += "?" + encode(params);
    else {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = encode(params);
    }
    return fetch(url, init).then(function (response) {
      return response.json().then(function (body) {
        return body.error ? { error: body.error } : { object: body };
      });
    });
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== SANDBOX || !event.data || event.data.source !== "ll-sandbox") return;
    var data = event.data;
    if (data.requestId && pending[data.requestId]) {
      pending[data.requestId](data);
      delete pending[data.requestId];
    } else if (data.elementId && elementsById[data.elementId]) {
      elementsById[data.elementId]._emit(data.type, data.payload || {});
    }
  });

  function CardElement(stripe) {
    this._stripe = stripe;
    this._id = "ll-card-" + (++nextId);
    this._handlers = {};
    this._frame = null;
    elementsById[this._id] = this;
  }
  CardElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    if (!host) throw new Error("Sandbox Stripe: mount target not found: " + target);
    var query = new URLSearchParams({ key: this._stripe._key, origin: window.location.origin, id: this._id });
    if (this._stripe._account) query.set("account", this._stripe._account);
    var frame = document.createElement("iframe");
    frame.src = SANDBOX + "/stripe/elements/card?" + query.toString();
    frame.name = this._id;
    frame.title = "Secure card payment input frame";
    frame.setAttribute("allowtransparency", "true");
    frame.style.cssText = "border:none;width:100%;height:44px;overflow:hidden;";
    host.appendChild(frame);
    this._frame = frame;
  };
  CardElement.prototype.on = function (name, handler) {
    (this._handlers[name] = this._handlers[name] || []).push(handler);
    return this;
  };
  CardElement.prototype.off = function (name, handler) {
    this._handlers[name] = (this._handlers[name] || []).filter(function (h) { return h !== handler; });
    return this;
  };
  CardElement.prototype._emit = function (name, payload) {
    (this._handlers[name] || []).forEach(function (h) { h(payload); });
  };
  CardElement.prototype._send = function (message) {
    var frame = this._frame;
    if (!frame) return Promise.reject(new Error("Sandbox Stripe: the card element is not mounted"));
    var requestId = "req-" + (++nextId);
    message.requestId = requestId;
    message.source = "ll-sandbox-page";
    return new Promise(function (resolve) {
      pending[requestId] = resolve;
      frame.contentWindow.postMessage(message, SANDBOX);
    });
  };
  CardElement.prototype.focus = function () { if (this._frame) this._send({ type: "focus" }); };
  CardElement.prototype.clear = function () { if (this._frame) this._send({ type: "clear" }); };
  CardElement.prototype.update = function () {};
  CardElement.prototype.unmount = function () {
    if (this._frame) { this._frame.remove(); this._frame = null; }
  };
  CardElement.prototype.destroy = function () {
    this.unmount();
    delete elementsById[this._id];
  };

  function Elements(stripe) { this._stripe = stripe; this._elements = {}; }
  Elements.prototype.create = function (type) {
    if (type !== "card") throw new Error("Sandbox Stripe: only the 'card' element is available");
    var element = new CardElement(this._stripe);
    this._elements[type] = element;
    return element;
  };
  Elements.prototype.getElement = function (type) { return this._elements[type] || null; };

  function Stripe(key, options) {
    if (!(this instanceof Stripe)) return new Stripe(key, options);
    if (!/^pk_test_/.test(key || "")) throw new Error("Sandbox Stripe: use a pk_test_ publishable key");
    this._key = key;
    this._account = (options && options.stripeAccount) || null;
  }
  Stripe.prototype.elements = function () { return new Elements(this); };

  Stripe.prototype.createPaymentMethod = function (data, element, extra) {
    // Both call shapes of Stripe.js: ({type, card, billing_details}) and ('card', card, {billing_details}).
    if (typeof data === "string") data = Object.assign({ type: data, card: element }, extra || {});
    if (!data || data.type !== "card" || !(data.card instanceof CardElement)) {
      return Promise.resolve({ error: { type: "validation_error", message: "Pass {type: 'card', card: cardElement}." } });
    }
    return data.card._send({ type: "create-payment-method", billing_details: data.billing_details || {} })
      .then(function (reply) { return reply.error ? { error: reply.error } : { paymentMethod: reply.paymentMethod }; });
  };

  function intentId(clientSecret) { return String(clientSecret || "").split("_secret_")[0]; }

  Stripe.prototype.retrievePaymentIntent = function (clientSecret) {
    return api(this, "GET", "/v1/payment_intents/" + intentId(clientSecret), { client_secret: clientSecret })
      .then(function (r) { return r.error ? { error: r.error } : { paymentIntent: r.object }; });
  };

  Stripe.prototype._outcome = function (intent) {
    if (intent.status === "requires_payment_method" && intent.last_payment_error) {
      return { error: Object.assign({}, intent.last_payment_error, { payment_intent: intent }) };
    }
    return { paymentIntent: intent };
  };

  Stripe.prototype._authenticate = function (intent) {
    var action = intent.next_action || {};
    var url = (action.use_stripe_sdk && action.use_stripe_sdk.stripe_js) ||
      (action.redirect_to_url && action.redirect_to_url.url);
    var overlay = document.createElement("div");
    overlay.style.cssText = "position:fixed;inset:0;background:rgba(0,0,0,.45);z-index:2147483647;display:flex;align-items:center;justify-content:center;";
    var frame = document.createElement("iframe");
    frame.src = url + "&mode=frame&origin=" + encodeURIComponent(window.location.origin);
    frame.title = "3D Secure authentication";
    frame.style.cssText = "border:none;background:#fff;width:420px;height:380px;border-radius:8px;";
    overlay.appendChild(frame);
    document.body.appendChild(overlay);
    return new Promise(function (resolve) {
      pending["3ds-" + intent.id] = function () { overlay.remove(); resolve(); };
    });
  };

  Stripe.prototype.handleNextAction = function (options) {
    var self = this;
    var clientSecret = typeof options === "string" ? options : options.clientSecret;
    return this.retrievePaymentIntent(clientSecret).then(function (r) {
      if (r.error || r.paymentIntent.status !== "requires_action") return r.error ? r : self._outcome(r.paymentIntent);
      return self._authenticate(r.paymentIntent).then(function () {
        return self.retrievePaymentIntent(clientSecret);
      }).then(function (again) { return again.error ? again : self._outcome(again.paymentIntent); });
    });
  };
  Stripe.prototype.handleCardAction = Stripe.prototype.handleNextAction;

  Stripe.prototype.confirmCardPayment = function (clientSecret, data, options) {
    var self = this;
    data = data || {};
    var method = data.payment_method;
    var pmPromise = Promise.resolve({ id: typeof method === "string" ? method : null });
    if (method && typeof method === "object") {
      pmPromise = this.createPaymentMethod({ type: "card", card: method.card, billing_details: method.billing_details })
        .then(function (r) { if (r.error) throw r.error; return { id: r.paymentMethod.id }; });
    }
    return pmPromise.then(function (pm) {
      var params = { client_secret: clientSecret, use_stripe_sdk: "true" };
      if (pm.id) params.payment_method = pm.id;
      if (data.return_url) params.return_url = data.return_url;
      return api(self, "POST", "/v1/payment_intents/" + intentId(clientSecret) + "/confirm", params);
    }).then(function (r) {
      if (r.error) return { error: r.error };
      if (r.object.status === "requires_action" && !(options && options.handleActions === false)) {
        return self.handleNextAction({ clientSecret: clientSecret });
      }
      return self._outcome(r.object);
    }, function (error) { return { error: error }; });
  };

  // --- US bank accounts: collectBankAccountForSetup + confirmUsBankAccountSetup ----------
  // The bank form is an overlay iframe on the sandbox origin (Stripe shows its own modal);
  // the page receives the PaymentMethod id and last 4, never the numbers.
  function setupIntentId(clientSecret) { return String(clientSecret || "").split("_secret_")[0]; }

  Stripe.prototype.retrieveSetupIntent = function (clientSecret) {
    return api(this, "GET", "/v1/setup_intents/" + setupIntentId(clientSecret), { client_secret: clientSecret })
      .then(function (r) { return r.error ? { error: r.error } : { setupIntent: r.object }; });
  };

  Stripe.prototype.collectBankAccountForSetup = function (options) {
    var self = this;
    options = options || {};
    var clientSecret = options.clientSecret;
    var params = options.params || {};
    if (params.payment_method_type !== "us_bank_account") {
      return Promise.resolve({ error: { type: "validation_error", message: "Pass params.payment_method_type 'us_bank_account'." } });
    }
    var billing = (params.payment_method_data && params.payment_method_data.billing_details) || {};
    var requestId = "bank-" + (++nextId);
    var query = new URLSearchParams({ key: this._key, origin: window.location.origin, request: requestId, name: billing.name || "" });
    if (this._account) query.set("account", this._account);
    var overlay = document.createElement("div");
    overlay.style.cssText = "position:fixed;inset:0;background:rgba(0,0,0,.45);z-index:2147483647;display:flex;align-items:center;justify-content:center;";
    var frame = document.createElement("iframe");
    frame.src = SANDBOX + "/stripe/elements/us_bank_account?" + query.toString();
    frame.title = "Enter your bank details";
    frame.name = "ll-bank-account";
    frame.style.cssText = "border:none;background:#fff;width:440px;height:620px;border-radius:8px;";
    overlay.appendChild(frame);
    document.body.appendChild(overlay);
    return new Promise(function (resolve) { pending[requestId] = resolve; }).then(function (reply) {
      overlay.remove();
      return self.retrieveSetupIntent(clientSecret).then(function (r) {
        if (r.error) return r;
        if (reply.canceled || !reply.paymentMethod) return { setupIntent: r.setupIntent };
        self._collected = self._collected || {};
        self._collected[clientSecret] = reply.paymentMethod.id;
        // As Stripe.js: the intent now has the collected method and awaits confirmation.
        var intent = Object.assign({}, r.setupIntent, { status: "requires_confirmation", payment_method: reply.paymentMethod });
        return { setupIntent: intent };
      });
    });
  };

  Stripe.prototype.confirmUsBankAccountSetup = function (clientSecret, data) {
    var collected = (this._collected || {})[clientSecret];
    var method = (data && data.payment_method) || collected;
    if (!method) return Promise.resolve({ error: { type: "validation_error", message: "Collect a bank account first." } });
    var params = {
      client_secret: clientSecret,
      payment_method: method,
      // Stripe.js records the mandate acceptance from the browser that showed its text.
      mandate_data: { customer_acceptance: { type: "online", online: { infer_from_client: "true", user_agent: navigator.userAgent } } }
    };
    return api(this, "POST", "/v1/setup_intents/" + setupIntentId(clientSecret) + "/confirm", params)
      .then(function (r) { return r.error ? { error: r.error } : { setupIntent: r.object }; });
  };

  window.addEventListener("message", function (event) {
    if (event.origin !== SANDBOX || !event.data || event.data.type !== "3ds-complete") return;
    var done = pending["3ds-" + event.data.paymentIntent];
    if (done) { delete pending["3ds-" + event.data.paymentIntent]; done(); }
  });

  window.Stripe = Stripe;
})();
