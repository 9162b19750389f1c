// Settings → "Take your photos with you": follow an export being prepared in the background.
// Polls the status every 2 s and moves the progress bar; once the export is ready (or has
// stopped) the page reloads, so the server renders the download link or the reason and
// "Try again". Without JavaScript the "Refresh" link does the same by hand.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var RETRY_MS = 5000;
  var ANNOUNCE_KEY = "picbucket-export-announce";

  var block = document.getElementById("export-status");
  if (!block) return;

  // After the reload below: say what the export came to (the block was not live yet).
  try {
    if (window.sessionStorage.getItem(ANNOUNCE_KEY) === block.dataset.exportId) {
      window.sessionStorage.removeItem(ANNOUNCE_KEY);
      var first = block.querySelector("p");
      if (first && window.picbucketAnnounce) window.picbucketAnnounce(first.textContent.trim());
    }
  } catch (e) { /* storage disabled: no announcement, the page still shows it */ }

  var pollUrl = block.dataset.poll;
  if (!pollUrl) return;  // ready or failed: nothing to follow
  var progress = document.getElementById("export-progress");
  var text = document.getElementById("export-progress-text");
  var refresh = document.getElementById("export-refresh");
  if (refresh) refresh.hidden = true;

  function show(state) {
    if (state.text) text.textContent = state.text;
    if (state.photos_total) {
      progress.max = state.photos_total;
      progress.value = state.photos_done;
      progress.textContent = state.photos_done + " of " + state.photos_total;
    }
  }

  function finish() {
    try { window.sessionStorage.setItem(ANNOUNCE_KEY, block.dataset.exportId); } catch (e) { /* see above */ }
    window.location.reload();
  }

  function poll() {
    fetch(pollUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (answer) {
        if (answer.status === 404) return { status: null };  // gone (purged): show what is now
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.json();
      })
      .then(function (state) {
        if (state.status === "pending" || state.status === "running") {
          show(state);
          window.setTimeout(poll, POLL_MS);
        } else {
          finish();
        }
      })
      .catch(function () {
        // Offline or the server is restarting: keep trying, and offer the manual way.
        if (refresh) refresh.hidden = false;
        window.setTimeout(poll, RETRY_MS);
      });
  }

  window.setTimeout(poll, POLL_MS);
})();
