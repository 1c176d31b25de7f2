// Karusaku's behaviour besides htmx: the CSRF header, 定型文 buttons, printing, and telling the
// user when a save could not reach the server (what they typed stays in the form).
(function () {
  "use strict";

  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) {
      event.detail.headers["X-CSRFToken"] = meta.content;
    }
  });

  // A 定型文 button inserts its text into its field at the cursor, on a line of its own.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-insert-into]");
    if (!button) {
      return;
    }
    var field = document.getElementById(button.getAttribute("data-insert-into"));
    if (!field) {
      return;
    }
    var text = button.getAttribute("data-text") || "";
    var start = field.selectionStart == null ? field.value.length : field.selectionStart;
    var end = field.selectionEnd == null ? start : field.selectionEnd;
    var before = field.value.slice(0, start);
    if (before && before.slice(-1) !== "\n") {
      text = "\n" + text;
    }
    field.value = before + text + field.value.slice(end);
    field.selectionStart = field.selectionEnd = before.length + text.length;
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });

  function saveError(event, show) {
    var form = event.target.closest ? event.target.closest("form") : null;
    var message = form && form.querySelector("[data-save-error]");
    if (message) {
      message.hidden = !show;
    }
  }
  document.addEventListener("htmx:sendError", function (event) { saveError(event, true); });
  document.addEventListener("htmx:responseError", function (event) { saveError(event, true); });
  document.addEventListener("htmx:beforeRequest", function (event) { saveError(event, false); });
})();
