/* Ledgerline sandbox: a stand-in for braintree-web and Drop-in (js.braintreegateway.com).
 *
 * What Ledgerline uses, with the real libraries' call shapes:
 *   braintree.dropin.create({authorization, container, threeDSecure}) -> instance
 *     instance.requestPaymentMethod({threeDSecure: {amount}}) -> {nonce, type, details,
 *       liabilityShifted, liabilityShiftPossible}; instance.teardown()
 *   braintree.client.create({authorization}) -> client
 *   braintree.hostedFields.create({client, container}) -> instance.tokenize()
 *   braintree.threeDSecure.create({client}) -> instance.verifyCard({nonce, amount})
 * Every function returns a Promise (and calls a node-style callback when one is given).
 * The card form is an iframe on the sandbox origin: the card number is posted only to the
 * sandbox, and this page receives only the nonce, card type and last 4 by postMessage.
 */
(function () {
  "use strict";
  var SANDBOX = new URL(document.currentScript.src).origin;
  var nextId = 0;
  var pending = {};

  function promised(promise, callback) {
    if (typeof callback === "function") {
      promise.then(function (value) { callback(null, value); }, function (error) { callback(error); });
    }
    return promise;
  }

  function BraintreeError(message, code) {
    var error = new Error(message);
    error.name = "BraintreeError";
    error.code = code || "SANDBOX_ERROR";
    return error;
  }

  function decodeToken(authorization) {
    try {
      var token = JSON.parse(atob(authorization));
      if (!token.authorizationFingerprint || !token.clientApiUrl) throw new Error("incomplete");
      return token;
    } catch (e) {
      throw BraintreeError("authorization must be a client token from the sandbox", "CLIENT_INVALID_AUTHORIZATION");
    }
  }

  function post(client, path, body) {
    body.authorizationFingerprint = client._token.authorizationFingerprint;
    return fetch(client._token.clientApiUrl + "/v1/" + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) throw BraintreeError((answer.error || {}).message || "request failed");
        return answer;
      });
    });
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== SANDBOX || !event.data || event.data.source !== "ll-braintree") return;
    var waiting = pending[event.data.requestId];
    if (waiting) {
      delete pending[event.data.requestId];
      waiting(event.data);
    }
  });

  function ask(frame, type, payload) {
    var requestId = "req-" + (++nextId);
    return new Promise(function (resolve) {
      pending[requestId] = resolve;
      frame.contentWindow.postMessage(
        { source: "ll-braintree", type: type, requestId: requestId, payload: payload || {} }, SANDBOX);
    });
  }

  function Client(token) { this._token = token; }
  Client.prototype.getConfiguration = function () {
    return { authorization: this._token, gatewayConfiguration: { environment: "sandbox" } };
  };

  function createClient(options, callback) {
    return promised(new Promise(function (resolve) {
      resolve(new Client(decodeToken(options.authorization)));
    }), callback);
  }

  function mountForm(client, container) {
    var host = typeof container === "string" ? document.querySelector(container) : container;
    if (!host) throw BraintreeError("container not found", "HOSTED_FIELDS_INVALID_FIELD_SELECTOR");
    var frame = document.createElement("iframe");
    frame.title = "Secure card payment input frame";
    frame.name = "braintree-hosted-field-" + (++nextId);
    frame.style.cssText = "border:0;width:100%;height:210px;";
    frame.src = SANDBOX + "/braintree/hosted-fields?origin=" + encodeURIComponent(window.location.origin);
    host.appendChild(frame);
    var ready = new Promise(function (resolve) { frame.addEventListener("load", function () { resolve(frame); }); });
    return { frame: frame, ready: ready };
  }

  function HostedFields(client, mounted) { this._client = client; this._mounted = mounted; }
  HostedFields.prototype.tokenize = function (options, callback) {
    if (typeof options === "function") { callback = options; options = {}; }
    var self = this;
    return promised(self._mounted.ready.then(function (frame) {
      return ask(frame, "tokenize", { fingerprint: self._client._token.authorizationFingerprint,
                                      clientApiUrl: self._client._token.clientApiUrl });
    }).then(function (answer) {
      if (answer.error) throw BraintreeError(answer.error, "HOSTED_FIELDS_FIELDS_INVALID");
      return answer.payload;
    }), callback);
  };
  HostedFields.prototype.teardown = function (callback) {
    this._mounted.frame.remove();
    return promised(Promise.resolve(), callback);
  };

  function createHostedFields(options, callback) {
    return promised(new Promise(function (resolve) {
      var client = options.client || new Client(decodeToken(options.authorization));
      resolve(new HostedFields(client, mountForm(client, options.container || "#card-fields")));
    }), callback);
  }

  function ThreeDSecure(client) { this._client = client; }
  ThreeDSecure.prototype.verifyCard = function (options, callback) {
    var client = this._client;
    return promised(post(client, "payment_methods/" + encodeURIComponent(options.nonce) + "/three_d_secure/lookup",
                         { amount: String(options.amount) }).then(function (answer) {
      if (answer.paymentMethod) return verified(answer.paymentMethod);
      return challenge(answer.lookup.acsUrl);
    }), callback);
  };

  function verified(method) {
    var info = method.threeDSecureInfo || {};
    return { nonce: method.nonce, type: method.type, details: method.details,
             liabilityShifted: !!info.liabilityShifted, liabilityShiftPossible: !!info.liabilityShiftPossible,
             threeDSecureInfo: info };
  }

  function challenge(acsUrl) {
    return new Promise(function (resolve) {
      var overlay = document.createElement("div");
      overlay.style.cssText = "position:fixed;inset:0;background:rgba(0,0,0,.4);display:flex;align-items:center;justify-content:center;z-index:2147483647;";
      var frame = document.createElement("iframe");
      frame.title = "3-D Secure authentication";
      frame.style.cssText = "border:0;background:#fff;width:420px;height:360px;border-radius:6px;";
      frame.src = acsUrl + "?origin=" + encodeURIComponent(window.location.origin);
      overlay.appendChild(frame);
      document.body.appendChild(overlay);
      function done(event) {
        if (event.origin !== SANDBOX || !event.data || event.data.source !== "ll-braintree" ||
            event.data.type !== "three-d-secure-complete") return;
        window.removeEventListener("message", done);
        overlay.remove();
        resolve(verified(event.data.payload.paymentMethod));
      }
      window.addEventListener("message", done);
    });
  }

  function createThreeDSecure(options, callback) {
    return promised(Promise.resolve(new ThreeDSecure(options.client)), callback);
  }

  function Dropin(client, hostedFields, threeDSecure) {
    this._client = client; this._fields = hostedFields; this._threeDSecure = threeDSecure;
  }
  Dropin.prototype.requestPaymentMethod = function (options, callback) {
    if (typeof options === "function") { callback = options; options = {}; }
    var self = this;
    var secure = (options || {}).threeDSecure;
    return promised(self._fields.tokenize().then(function (payload) {
      if (!secure || !self._threeDSecure) return payload;
      return self._threeDSecure.verifyCard({ nonce: payload.nonce, amount: secure.amount });
    }), callback);
  };
  Dropin.prototype.teardown = function (callback) { return this._fields.teardown(callback); };

  function createDropin(options, callback) {
    return promised(createClient({ authorization: options.authorization }).then(function (client) {
      return createHostedFields({ client: client, container: options.container }).then(function (fields) {
        return new Dropin(client, fields, options.threeDSecure ? new ThreeDSecure(client) : null);
      });
    }), callback);
  }

  window.braintree = {
    VERSION: "sandbox",
    client: { create: createClient },
    hostedFields: { create: createHostedFields },
    threeDSecure: { create: createThreeDSecure },
    dropin: { create: createDropin }
  };
})();
