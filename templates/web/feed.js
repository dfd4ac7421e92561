/* The feed page's copy button: shown only where it can work. */
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector(".copy-status");
    if (!field) { return; }
    button.hidden = false;
    function said(text) { if (status) { status.textContent = text; } }
    button.addEventListener("click", function () {
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () {
          said("Copied. Paste it into your feed reader.");
        }, function () {
          said("Press Ctrl+C (or ⌘C) to copy the selected address.");
        });
      } else {
        said(document.execCommand("copy") ? "Copied. Paste it into your feed reader."
                                          : "Press Ctrl+C (or ⌘C) to copy the selected address.");
      }
    });
  });
})();
