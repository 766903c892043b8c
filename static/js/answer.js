// Reading our server's JSON answers on the public pages (pay, bank link). Anything that is not
// our JSON - a proxy's 502 page, an HTML error page, no answer at all - becomes a sentence for
// the customer instead of a script error or raw HTML.
(function () {
  "use strict";

  // A fetch promise -> {ok, status, data} when the server answered JSON; otherwise rejects
  // with an Error whose message says, in words, what went wrong and then `advice`.
  window.ledgerlineAnswer = function (request, advice) {
    function notOurs(status) {
      var reason = status
        ? "Our server had a problem answering (error " + status + ")."
        : "We could not reach our server. Check your connection.";
      return new Error(reason + " " + advice);
    }
    return request.then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== 0) throw notOurs(response.status);
      return response.json().then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      }, function () {
        throw notOurs(response.status);
      });
    }, function () {
      throw notOurs(0);
    });
  };
})();
