// The upload page: runs linkd.wasm (package uploader), which reads the
// chosen list and sends only hashes or OPRF outputs, batch by batch. The
// upload's state (never a number) is kept in this browser's storage, so
// that choosing the same file again after an interruption resumes it.
"use strict";
(function () {
  var form = document.getElementById("upload");
  if (!form) { return; }
  var ready = null;
  function loadWASM() {
    if (!ready) {
      var go = new Go();
      ready = WebAssembly.instantiateStreaming(fetch("/console/wasm/linkd.wasm"), go.importObject).then(function (r) {
        go.run(r.instance);
      });
    }
    return ready;
  }
  var statusBox = document.getElementById("status");
  var bar = document.getElementById("progress");
  var text = document.getElementById("progress-text");
  var errBox = document.getElementById("upload-error");
  var result = document.getElementById("result");
  function show(id, v) { document.getElementById(id).textContent = String(v); }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = form.file.files[0];
    if (!file) { return; }
    var audience = form.dataset.audience;
    var stateKey = "linkd-upload:" + audience;
    var opts = {
      audience: audience, mode: form.mode.value, schema: form.schema.value, country: form.country.value,
      batch: parseInt(form.batch.value, 10) || 1000, name: file.name, csrf: form.dataset.csrf,
      previous: localStorage.getItem(stateKey) || ""
    };
    errBox.hidden = true; result.hidden = true; statusBox.hidden = false;
    form.start.disabled = true;
    text.textContent = "Reading " + file.name + "…";
    var progress = function (batch, batches, lines, total) {
      bar.max = batches; bar.value = batch;
      text.textContent = "Batch " + batch + " of " + batches + " sent (" + lines + " of " + total + " lines)";
    };
    var state = function (json) { localStorage.setItem(stateKey, json); };
    var attempt = function (o) {
      return file.arrayBuffer().then(function (buf) {
        return linkdUpload(o, new Uint8Array(buf), progress, state);
      });
    };
    loadWASM().then(function () {
      return attempt(opts).catch(function (e) {
        // A state saved for another file or mode: start this upload anew.
        if (opts.previous && /state of another upload/.test(e.message)) {
          localStorage.removeItem(stateKey);
          opts.previous = "";
          return attempt(opts);
        }
        throw e;
      });
    }).then(function (r) {
      localStorage.removeItem(stateKey);
      show("r-lines", r.lines); show("r-received", r.num_received); show("r-invalid", r.num_invalid_entries); show("r-local", r.invalid_here);
      var ul = document.getElementById("r-problems");
      ul.textContent = "";
      (r.problems || []).forEach(function (p) { var li = document.createElement("li"); li.textContent = p; ul.appendChild(li); });
      text.textContent = r.resumed ? "Done (resumed where the last attempt stopped)." : "Done.";
      result.hidden = false;
    }).catch(function (e) {
      errBox.textContent = "The upload stopped: " + e.message + ".";
      errBox.hidden = false;
    }).finally(function () { form.start.disabled = false; });
  });
})();
