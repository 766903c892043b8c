/* Tells the page (its origin only) the outcome of the challenge: a fresh nonce and its
 * 3-D Secure info, as braintree-web's verifyCard resolves. */
(function () {
  "use strict";
  var node = document.getElementById("result");
  var origin = node.getAttribute("data-origin");
  if (window.parent !== window) {
    window.parent.postMessage({ source: "ll-braintree", type: "three-d-secure-complete",
                                payload: JSON.parse(node.getAttribute("data-result")) }, origin);
  }
})();
