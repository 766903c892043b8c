// The customer's bank-link page: opens Plaid Link and hands its result to our server.
// Only Link's public token and non-sensitive metadata pass through here; credentials,
// account numbers and micro-deposit codes stay inside Link.
(function () {
  "use strict";
  var form = document.getElementById("link-form");
  var button = document.getElementById("link-button");
  var errorBox = document.getElementById("link-error");
  var errorText = document.getElementById("link-error-text");
  if (!form || !button || typeof window.Plaid === "undefined") return;

  function showError(message) {
    errorText.textContent = message;
    errorBox.hidden = false;
    errorBox.focus();
  }

  function post(body) {
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    return window.ledgerlineAnswer(fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }), "Your bank may already be linked: reload this page to see, and try again if it is " +
      "not.").then(function (reply) {
      var data = reply.data;
      if (!reply.ok) throw new Error((data.error && data.error.message) || "Please try again.");
      return data;
    });
  }

  function reload() { window.location.reload(); }

  // Metadata we keep: the institution's display name and id; nothing else is sent.
  function safeMetadata(metadata) {
    var inst = (metadata && metadata.institution) || {};
    return { institution: { name: inst.name || "", institution_id: inst.institution_id || "" } };
  }

  // Each wrong micro-deposit code is reported as it happens (Link stays open for another
  // try), so the attempts left on the page match Plaid's count, however many codes one Link
  // session saw. Closing Link then reloads once every report has landed.
  var CODE_ERRORS = ["INCORRECT_DEPOSIT_VERIFICATION", "TOO_MANY_VERIFICATION_ATTEMPTS"];
  var codeReports = null;

  var handler = window.Plaid.create({
    token: form.dataset.linkToken,
    onSuccess: function (publicToken, metadata) {
      button.disabled = true;
      post({ action: "success", public_token: publicToken, metadata: safeMetadata(metadata) })
        .then(reload)
        .catch(function (err) { button.disabled = false; showError(err.message); });
    },
    onEvent: function (eventName, metadata) {
      if (eventName !== "ERROR" || CODE_ERRORS.indexOf(metadata && metadata.error_code) === -1) return;
      codeReports = (codeReports || Promise.resolve()).then(function () {
        return post({ action: "code_rejected" });
      });
    },
    onExit: function (err) {
      if (codeReports) {
        codeReports.then(reload).catch(function (e) { showError(e.message); });
      } else if (err) {
        showError((err.display_message) || "Your bank could not be linked. Please try again.");
      }
    }
  });
  button.disabled = false;
  button.addEventListener("click", function () { handler.open(); });
})();
