// Times in the viewer's time zone (UTC stays in the title), and a
// checkbox that ticks every signal of a page. The pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.textContent = fmt.format(d); }
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.dataset.confirm)) { ev.preventDefault(); }
    });
  });
  document.querySelectorAll("input.all").forEach(function (all) {
    all.addEventListener("change", function () {
      all.form.querySelectorAll('input[type="checkbox"][name="id"]').forEach(function (b) { b.checked = all.checked; });
    });
  });
});
