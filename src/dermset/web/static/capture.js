// Capture page: photographs from the camera (one at a time) and from the gallery (several)
// accumulate in one list, with previews, before they are uploaded together.
(function () {
  "use strict";
  var form = document.getElementById("capture-form");
  if (!form || typeof DataTransfer === "undefined") { return; }
  var camera = document.getElementById("camera");
  var gallery = document.getElementById("photos");
  var list = document.getElementById("previews");
  var count = document.getElementById("photo-count");
  var maxFiles = parseInt(form.dataset.maxFiles || "20", 10);
  var maxMb = parseInt(form.dataset.maxMb || "30", 10);
  var files = [];

  function sync() {
    var dt = new DataTransfer();
    files.forEach(function (f) { dt.items.add(f); });
    gallery.files = dt.files;
    camera.value = "";
    list.textContent = "";
    files.forEach(function (f, i) {
      var li = document.createElement("li");
      var img = document.createElement("img");
      img.alt = "photograph " + (i + 1);
      img.src = URL.createObjectURL(f);
      img.onload = function () { URL.revokeObjectURL(img.src); };
      var rm = document.createElement("button");
      rm.type = "button";
      rm.textContent = "×";
      rm.setAttribute("aria-label", "remove photograph " + (i + 1));
      rm.addEventListener("click", function () { files.splice(i, 1); sync(); });
      li.appendChild(img);
      li.appendChild(rm);
      list.appendChild(li);
    });
    var big = files.filter(function (f) { return f.size > maxMb * 1024 * 1024; }).length;
    count.textContent = files.length
      ? files.length + " photograph" + (files.length === 1 ? "" : "s") + " ready" +
        (big ? " — " + big + " larger than " + maxMb + " MB will be refused" : "") +
        (files.length > maxFiles ? " — at most " + maxFiles + " at a time" : "")
      : "No photographs yet.";
  }

  function add(event) {
    Array.prototype.forEach.call(event.target.files, function (f) { files.push(f); });
    sync();
  }
  camera.addEventListener("change", add);
  gallery.addEventListener("change", add);
})();
