// Zoom and pan for the large image: wheel or +/- to zoom (around the pointer), drag or arrow
// keys to move, 0 to fit, 1:1 for the sensor's pixels. Touch: one finger moves, two pinch.
(function () {
  "use strict";
  document.querySelectorAll("[data-viewer]").forEach(function (root) {
    var port = root.querySelector(".viewport");
    var img = port.querySelector("img");
    var label = root.querySelector(".zoom-level");
    var s = 1, x = 0, y = 0, fit = 1;

    function apply() {
      img.style.transform = "translate(" + x + "px," + y + "px) scale(" + s + ")";
      if (label) { label.textContent = Math.abs(s - fit) < 1e-3 ? "fit" : Math.round(s * 100) + "%"; }
    }
    function clamp() {
      var w = img.naturalWidth * s, h = img.naturalHeight * s;
      var pw = port.clientWidth, ph = port.clientHeight;
      x = w <= pw ? (pw - w) / 2 : Math.min(0, Math.max(pw - w, x));
      y = h <= ph ? (ph - h) / 2 : Math.min(0, Math.max(ph - h, y));
    }
    function toFit() {
      if (!img.naturalWidth) { return; }
      fit = Math.min(port.clientWidth / img.naturalWidth, port.clientHeight / img.naturalHeight);
      s = fit; clamp(); apply();
    }
    function zoomAt(factor, cx, cy) {
      var ns = Math.max(fit * 0.5, Math.min(8, s * factor));
      x = cx - (cx - x) * (ns / s);
      y = cy - (cy - y) * (ns / s);
      s = ns; clamp(); apply();
    }
    function centre() { return [port.clientWidth / 2, port.clientHeight / 2]; }

    if (img.complete) { toFit(); } else { img.addEventListener("load", toFit); }
    window.addEventListener("resize", toFit);

    port.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = port.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });

    var pointers = {}, last = null, pinch = null;
    port.addEventListener("pointerdown", function (e) {
      port.setPointerCapture(e.pointerId);
      pointers[e.pointerId] = [e.clientX, e.clientY];
      last = [e.clientX, e.clientY];
      port.classList.add("dragging");
    });
    port.addEventListener("pointermove", function (e) {
      if (!(e.pointerId in pointers)) { return; }
      pointers[e.pointerId] = [e.clientX, e.clientY];
      var ids = Object.keys(pointers);
      if (ids.length === 2) {
        var a = pointers[ids[0]], b = pointers[ids[1]];
        var d = Math.hypot(a[0] - b[0], a[1] - b[1]);
        var r = port.getBoundingClientRect();
        if (pinch) { zoomAt(d / pinch, (a[0] + b[0]) / 2 - r.left, (a[1] + b[1]) / 2 - r.top); }
        pinch = d;
        return;
      }
      x += e.clientX - last[0]; y += e.clientY - last[1];
      last = [e.clientX, e.clientY];
      clamp(); apply();
    });
    function up(e) {
      delete pointers[e.pointerId];
      pinch = null;
      if (!Object.keys(pointers).length) { port.classList.remove("dragging"); }
    }
    port.addEventListener("pointerup", up);
    port.addEventListener("pointercancel", up);
    port.addEventListener("dblclick", function (e) {
      var r = port.getBoundingClientRect();
      zoomAt(2, e.clientX - r.left, e.clientY - r.top);
    });

    root.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var c = centre();
        if (b.dataset.zoom === "in") { zoomAt(1.25, c[0], c[1]); }
        else if (b.dataset.zoom === "out") { zoomAt(1 / 1.25, c[0], c[1]); }
        else if (b.dataset.zoom === "actual") { zoomAt(1 / s, c[0], c[1]); }
        else { toFit(); }
      });
    });

    document.addEventListener("keydown", function (e) {
      var t = e.target;
      if (t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && !/radio|checkbox/.test(t.type)) || t.tagName === "SELECT")) { return; }
      if (e.ctrlKey || e.metaKey || e.altKey) { return; }
      var c = centre(), step = 60;
      if (e.key === "+" || e.key === "=") { zoomAt(1.25, c[0], c[1]); }
      else if (e.key === "-" || e.key === "_") { zoomAt(1 / 1.25, c[0], c[1]); }
      else if (e.key === "0" && !e.shiftKey) { toFit(); }
      else if (e.key === "ArrowLeft") { x += step; }
      else if (e.key === "ArrowRight") { x -= step; }
      else if (e.key === "ArrowUp") { y += step; }
      else if (e.key === "ArrowDown") { y -= step; }
      else { return; }
      e.preventDefault(); clamp(); apply();
    });
  });
})();
