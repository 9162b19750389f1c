// Follow the system's light/dark setting (loaded in <head> so there is no flash),
// and mark the page as scripted so script-only controls show from the first paint.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var query = window.matchMedia("(prefers-color-scheme: dark)");
  function apply() {
    root.setAttribute("data-bs-theme", query.matches ? "dark" : "light");
  }
  apply();
  query.addEventListener("change", apply);
})();
