// dermset: small behaviours shared by every page (no external code).
(function () {
  "use strict";
  // A form is sent once: a second click while the first request runs would double-submit.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sent === "1") { event.preventDefault(); return; }
    form.dataset.sent = "1";
    var button = form.querySelector("button[type=submit]");
    if (button) {
      if (button.dataset.busy) { button.textContent = button.dataset.busy; }
      setTimeout(function () { button.disabled = true; }, 0);
    }
  });
  // Coming back with the browser's back button re-enables forms.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (f) {
      delete f.dataset.sent;
      var b = f.querySelector("button[type=submit]");
      if (b) { b.disabled = false; }
    });
  });
})();
