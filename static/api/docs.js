// Runs Redoc on the API reference page (templates/api/docs.html) under the page's strict CSP,
// with nothing from another origin. Loaded before Redoc's bundle: the bundle adds <style>
// elements as soon as it loads, and each needs the page's nonce to apply.
(function () {
  "use strict";
  var nonce = document.currentScript.nonce;

  var createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (tagName, options) {
    var element = createElement.call(this, tagName, options);
    if (String(tagName).toLowerCase() === "style") {
      element.setAttribute("nonce", nonce);
    }
    return element;
  };

  // Redoc's sidebar always shows its vendor's logo from cdn.redoc.ly (no option turns it off).
  // Images from another origin are simply not given a source, however it is set (docs.css
  // hides the empty image).
  function isForeign(value) {
    var url = new URL(String(value), document.baseURI);
    return url.protocol !== "data:" && url.origin !== window.location.origin;
  }
  var setAttribute = Element.prototype.setAttribute;
  HTMLImageElement.prototype.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === "src" && isForeign(value)) {
      return undefined;
    }
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      if (!isForeign(value)) {
        src.set.call(this, value);
      }
    },
  });

  document.addEventListener("DOMContentLoaded", function () {
    var container = document.getElementById("redoc-container");
    var systemFonts =
      "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
    window.Redoc.init(
      container.dataset.schemaUrl,
      {
        nonce: nonce,
        theme: {
          typography: {
            fontFamily: systemFonts,
            headings: { fontFamily: systemFonts },
            code: { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
          },
        },
      },
      container
    );
  });
})();
