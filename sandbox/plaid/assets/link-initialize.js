/* Ledgerline sandbox: a stand-in for Plaid Link's script
 * (https://cdn.plaid.com/link/v2/stable/link-initialize.js).
 *
 * Same calls as the real one for what Ledgerline uses:
 *   const handler = Plaid.create({token, onSuccess, onExit, onEvent, onLoad, receivedRedirectUri});
 *   handler.open(); handler.exit(); handler.destroy();
 * Link itself runs in a full-page iframe on the sandbox origin. Credentials, account and
 * routing numbers and micro-deposit codes stay in that iframe; the page only receives what
 * Plaid Link hands it: the public token and metadata (institution, accounts by mask and name).
 */
(function () {
  "use strict";
  var SANDBOX = new URL(document.currentScript.src).origin;

  function create(config) {
    config = config || {};
    var frame = null;
    var sessionId = null;

    function close() {
      if (frame) frame.remove();
      frame = null;
    }

    function onMessage(event) {
      // Only our own iframe may speak: same origin as the script and the exact window.
      if (event.origin !== SANDBOX || !frame || event.source !== frame.contentWindow) return;
      var data = event.data || {};
      if (data.source !== "ll-plaid-link") return;
      if (data.metadata && data.metadata.link_session_id) sessionId = data.metadata.link_session_id;
      if (data.type === "event") {
        if (config.onEvent) config.onEvent(data.name, data.metadata || {});
      } else if (data.type === "success") {
        close();
        if (config.onSuccess) config.onSuccess(data.public_token, data.metadata);
      } else if (data.type === "exit") {
        close();
        if (config.onExit) config.onExit(data.error || null, data.metadata || {});
      }
    }
    window.addEventListener("message", onMessage);

    var handler = {
      open: function () {
        if (frame) return;
        var query = new URLSearchParams({ token: config.token || "", origin: window.location.origin });
        frame = document.createElement("iframe");
        frame.src = SANDBOX + "/plaid/link?" + query.toString();
        frame.title = "Plaid Link";
        frame.name = "plaid-link-iframe";
        frame.style.cssText =
          "position:fixed;inset:0;width:100%;height:100%;border:0;z-index:2147483647;" +
          "background:rgba(0,0,0,0.45);";
        document.body.appendChild(frame);
      },
      exit: function () {
        if (!frame) return;
        close();
        if (config.onExit) {
          config.onExit(null, { status: null, institution: null, link_session_id: sessionId, request_id: null });
        }
      },
      destroy: function () {
        close();
        window.removeEventListener("message", onMessage);
      },
    };
    if (config.onLoad) setTimeout(config.onLoad, 0);
    return handler;
  }

  window.Plaid = { create: create, version: "sandbox" };
})();
