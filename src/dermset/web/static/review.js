// Review form shortcuts: 1-9 pick a diagnosis, Shift+1-9 the confidence, Ctrl/Cmd+Enter saves.
(function () {
  "use strict";
  var form = document.getElementById("review-form");
  if (!form) { return; }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && !/radio|checkbox/.test(t.type)) || t.tagName === "SELECT");
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      if (form.reportValidity()) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var m = /^Digit([1-9])$/.exec(e.code || "");
    if (!m) { return; }
    var input = e.shiftKey
      ? form.querySelector('input[name=confidence][data-shift-key="' + m[1] + '"]')
      : form.querySelector('input[name=diagnosis][data-key="' + m[1] + '"]');
    if (input) {
      input.checked = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
      e.preventDefault();
    }
  });
})();
