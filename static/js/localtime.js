// Show <time datetime="…" data-local> in the viewer's own time zone.
// The server writes UTC text, which stays as the tooltip and as the fallback
// when JavaScript is off.
(function () {
  "use strict";
  // (dateStyle/timeStyle cannot be combined with timeZoneName: spell the fields out.)
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "numeric",
    minute: "2-digit",
    timeZoneName: "short"
  });
  document.querySelectorAll("time[data-local]").forEach(function (element) {
    var when = new Date(element.getAttribute("datetime"));
    if (isNaN(when.getTime())) return;
    element.title = element.textContent.trim();
    element.textContent = format.format(when);
  });
})();
