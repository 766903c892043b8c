// Payment links page: a "Copy" button next to each link address (the address stays selectable
// text, so the page works without JavaScript or clipboard access).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy-target]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copyTarget);
      if (!source || !navigator.clipboard) {
        return;
      }
      await navigator.clipboard.writeText(source.value || source.textContent);
      const status = document.getElementById(`${button.dataset.copyTarget}-status`);
      if (status) {
        status.textContent = "Copied";
      }
    });
  }
});
