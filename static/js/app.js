// Picbucket page behaviour: uploads with progress, copy buttons, infinite scroll.
// The gallery's selection bar lives in selection.js.
// Plain DOM code, no inline handlers (the CSP forbids inline script).
(function () {
  "use strict";

  // Only signed-in pages carry a CSRF token (visitors get no session cookie at all).
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.content : "";

  function humanBytes(size) {
    if (size < 1024) return size + " B";
    if (size < 1048576) return Math.round(size / 1024) + " KB";
    if (size < 1073741824) return (size / 1048576).toFixed(1) + " MB";
    return (size / 1073741824).toFixed(2) + " GB";
  }

  // Tell screen-reader users what just happened (the region lives in base.html).
  var announcer = document.getElementById("announcer");
  function announce(message) {
    if (!announcer) return;
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = message; }, 50);
  }
  // selection.js says things through the same live region.
  window.picbucketAnnounce = announce;

  // ---- Copy buttons -------------------------------------------------------
  function copyText(text, button) {
    var done = function () {
      if (!button.dataset.label) button.dataset.label = button.textContent;
      button.textContent = "Copied!";
      button.classList.add("copied");
      announce("Copied to the clipboard.");
      clearTimeout(button.copyTimer);
      button.copyTimer = setTimeout(function () {
        button.textContent = button.dataset.label;
        button.classList.remove("copied");
      }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selectable */ }
    document.body.removeChild(area);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-from]");
    if (!button) return;
    var text = button.dataset.copy;
    if (button.dataset.copyFrom) {
      var input = document.getElementById(button.dataset.copyFrom);
      text = input.value;
      input.select();
    }
    copyText(text, button);
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // ---- Gallery ------------------------------------------------------------
  // The grid is month sections (<section data-month> with a heading and a <ul>); the
  // next pages continue the last month or start new ones, as the server renders them.
  var gallery = document.getElementById("gallery");

  function thumbSize(image) {
    return [image.thumbnail_width || image.width, image.thumbnail_height || image.height];
  }

  function card(image, isNew) {
    var item = document.createElement("li");
    item.className = isNew ? "gallery-item is-new" : "gallery-item";
    var link = document.createElement("a");
    link.className = "gallery-link";
    link.href = image.page_url;
    link.dataset.photo = JSON.stringify(image);  // what viewer.js shows
    var img = document.createElement("img");
    var size = thumbSize(image);
    img.src = image.thumbnail_url;
    img.alt = image.title;
    img.loading = "lazy";
    img.decoding = "async";
    img.width = size[0];
    img.height = size[1];
    var title = document.createElement("span");
    title.className = "gallery-title";
    title.setAttribute("aria-hidden", "true");  // the image's alt already names the link
    title.textContent = image.title;
    link.appendChild(img);
    link.appendChild(title);
    item.appendChild(link);
    item.dataset.id = image.id;
    // The same check as _card.html: selects the tile for the selection bar.
    var check = document.createElement("button");
    check.type = "button";
    check.className = "select-check js-only";
    check.setAttribute("aria-pressed", "false");
    check.setAttribute("aria-label", "Select " + image.title);
    var mark = document.createElement("span");
    mark.setAttribute("aria-hidden", "true");
    check.appendChild(mark);
    item.appendChild(check);
    return item;
  }

  // Months are grouped in UTC, as the server does, so a page boundary never splits one.
  function monthOf(image) {
    var iso = gallery.dataset.sort === "taken" && image.taken_at ? image.taken_at : image.created;
    var when = new Date(iso);
    var key = when.getUTCFullYear() + "-" + String(when.getUTCMonth() + 1).padStart(2, "0");
    var label = when.toLocaleDateString("en", { month: "long", year: "numeric", timeZone: "UTC" });
    return { key: key, label: label };
  }

  function monthSection(key, label, first) {
    var section = document.createElement("section");
    section.className = "gallery-month";
    section.dataset.month = key;
    section.setAttribute("aria-label", label);
    var heading = document.createElement("h3");
    heading.className = "gallery-month-title";
    heading.textContent = label;
    var grid = document.createElement("ul");
    grid.className = "gallery list-unstyled";
    section.appendChild(heading);
    section.appendChild(grid);
    if (first) gallery.insertBefore(section, gallery.firstChild);
    else gallery.appendChild(section);
    return grid;
  }

  function appendPhoto(image) {
    var month = monthOf(image);
    var sections = gallery.querySelectorAll("section.gallery-month");
    var last = sections[sections.length - 1];
    var grid = last && last.dataset.month === month.key ? last.querySelector("ul") : monthSection(month.key, month.label, false);
    grid.appendChild(card(image));
  }

  // New uploads gather at the top, whatever their date, so the person sees them land.
  function prependUpload(image) {
    var first = gallery.querySelector("section.gallery-month");
    var grid = first && first.dataset.month === "new" ? first.querySelector("ul") : monthSection("new", "Just uploaded", true);
    grid.insertBefore(card(image, true), grid.firstChild);
  }

  var loadMore = document.getElementById("load-more");
  var loadedCursors = [];
  var pending = null;
  var observer = null;

  function pageUrl(cursor) {
    var url = gallery.dataset.api + "?cursor=" + encodeURIComponent(cursor);
    if (gallery.dataset.sort && gallery.dataset.sort !== "taken") url += "&sort=" + encodeURIComponent(gallery.dataset.sort);
    if (gallery.dataset.query) url += "&q=" + encodeURIComponent(gallery.dataset.query);
    return url;
  }

  // Load the next page; the promise resolves once its photos are in the grid.
  function loadNextPage() {
    if (!loadMore) return Promise.resolve(false);
    if (pending) return pending;
    loadMore.textContent = "Loading…";
    var cursor = loadMore.dataset.cursor;
    pending = fetch(pageUrl(cursor), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (page) {
        page.items.forEach(appendPhoto);
        gallery.dispatchEvent(new CustomEvent("picbucket:tiles"));
        loadedCursors.push(cursor);
        announce(page.items.length === 1 ? "Loaded 1 more image." : "Loaded " + page.items.length + " more images.");
        if (page.next_cursor) {
          loadMore.dataset.cursor = page.next_cursor;
          var next = new URL(loadMore.href, location.href);
          next.searchParams.set("cursor", page.next_cursor);
          loadMore.href = next.pathname + next.search;
          loadMore.textContent = "Load more";
          if (observer) {
            // Re-observing reports the current state again: if the button is still
            // near the viewport (a short page, a tall screen), the next page loads too.
            observer.unobserve(loadMore);
            observer.observe(loadMore);
          }
        } else {
          if (observer) observer.disconnect();
          loadMore.parentNode.removeChild(loadMore);
          loadMore = null;
        }
        return true;
      })
      .catch(function (error) {
        if (loadMore) loadMore.textContent = "Load more (the last try failed)";
        throw error;
      })
      .finally(function () { pending = null; });
    return pending;
  }

  // viewer.js pages through the whole gallery with these.
  window.picbucketGallery = {
    hasMore: function () { return Boolean(loadMore); },
    loadMore: loadNextPage,
  };

  // ---- Scroll position: Back past the first page lands where the person was ----------
  var SCROLL_KEY = "picbucket:gallery:" + location.pathname + "?" + ["sort", "q"].map(function (name) {
    return name + "=" + (new URL(location.href).searchParams.get(name) || "");
  }).join("&");

  var restoring = false;
  function saveScroll() {
    if (restoring || !gallery || new URL(location.href).searchParams.get("photo")) return;
    try {
      sessionStorage.setItem(SCROLL_KEY, JSON.stringify({ pages: loadedCursors.length, y: window.scrollY }));
    } catch (e) { /* private mode: no restore, nothing breaks */ }
  }

  function restoreScroll() {
    var saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(SCROLL_KEY) || "null"); } catch (e) { saved = null; }
    var navigation = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    var returning = navigation && (navigation.type === "back_forward" || navigation.type === "reload");
    if (!saved || !returning || !saved.pages) return;
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    var left = saved.pages;
    restoring = true;
    function done() { restoring = false; window.scrollTo(0, saved.y); }
    (function next() {
      if (left <= 0 || !loadMore) { done(); return; }
      left -= 1;
      loadNextPage().then(next, done);
    })();
  }

  if (gallery) {
    var scrollTimer = null;
    window.addEventListener("scroll", function () {
      clearTimeout(scrollTimer);
      scrollTimer = setTimeout(saveScroll, 150);
    }, { passive: true });
    window.addEventListener("pagehide", saveScroll);
  }

  if (loadMore) {
    loadMore.addEventListener("click", function (event) {
      event.preventDefault();
      loadNextPage().catch(function () { /* the button says so */ });
    });
    restoreScroll();
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) loadNextPage().catch(function () {});
      }, { rootMargin: "600px" });
      observer.observe(loadMore);
    }
  }

  // ---- Upload -------------------------------------------------------------
  var form = document.getElementById("upload-form");
  if (!form) return;
  var input = document.getElementById("file-input");
  var list = document.getElementById("upload-list");
  var quota = document.getElementById("quota");
  var maxUpload = parseInt(quota.dataset.maxUpload, 10);
  var directEnabled = quota.dataset.direct === "true";
  var maxDirect = parseInt(quota.dataset.maxDirect, 10);
  var apiBase = gallery.dataset.api.replace(/\/images$/, "");

  // One line sums the uploads up ("3 uploaded · 1 refused"); finished rows fold away
  // (refused ones stay, with their reason) until "Show all"; "Clear" empties the list.
  var summary = document.getElementById("upload-summary");
  var counts = document.getElementById("upload-counts");
  var toggle = document.getElementById("upload-toggle");
  var tally = { running: 0, ok: 0, duplicate: 0, failed: 0 };
  var finished = [];  // rows that uploaded, in the order they finished
  var KEEP_FINISHED = 3;

  function showSummary() {
    var parts = [];
    if (tally.running) parts.push(tally.running + " uploading");
    if (tally.ok) parts.push(tally.ok + " uploaded");
    if (tally.duplicate) parts.push(tally.duplicate + " already in your library");
    if (tally.failed) parts.push(tally.failed + " refused");
    counts.textContent = parts.join(" · ");
    summary.hidden = parts.length === 0;
    // Only the last few successes stay in view; the rest fold into the counts.
    finished.forEach(function (item, i) {
      item.classList.toggle("is-folded", i < finished.length - KEEP_FINISHED);
    });
    toggle.hidden = finished.length <= KEEP_FINISHED;
  }

  toggle.addEventListener("click", function () {
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    toggle.textContent = open ? "Hide finished" : "Show all";
    list.classList.toggle("is-expanded", open);
  });
  document.getElementById("upload-clear").addEventListener("click", function () {
    Array.prototype.forEach.call(list.querySelectorAll(".upload-ok, .upload-failed"), function (item) {
      list.removeChild(item);
    });
    tally.ok = 0;
    tally.duplicate = 0;
    tally.failed = 0;
    finished = [];
    showSummary();
    document.getElementById("choose-files").focus();
  });

  function row(file) {
    tally.running += 1;
    showSummary();
    var item = document.createElement("li");
    item.className = "upload-row";
    var name = document.createElement("div");
    name.className = "d-flex justify-content-between gap-2 small";
    var label = document.createElement("span");
    label.className = "text-truncate fw-semibold";
    label.textContent = file.name || "Pasted image";
    var status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = humanBytes(file.size);
    name.appendChild(label);
    name.appendChild(status);
    var bar = document.createElement("div");
    bar.className = "progress";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-label", "Upload of " + label.textContent);
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", "0");
    var fill = document.createElement("div");
    fill.className = "progress-bar";
    bar.appendChild(fill);
    item.appendChild(name);
    item.appendChild(bar);
    list.insertBefore(item, list.firstChild);
    return {
      progress: function (fraction) {
        var pct = Math.round(fraction * 100);
        fill.style.width = pct + "%";
        bar.setAttribute("aria-valuenow", String(pct));
        status.textContent = pct < 100 ? pct + "%" : "Processing…";
      },
      done: function (message) {
        fill.style.width = "100%";
        fill.classList.add("bg-success");
        bar.setAttribute("aria-valuenow", "100");
        status.textContent = message;
        item.classList.add("upload-ok");
        finished.push(item);
        tally.running -= 1;
        tally.ok += 1;
        showSummary();
      },
      // The same picture is already in the library: nothing stored, nothing charged.
      duplicate: function (href) {
        fill.style.width = "100%";
        bar.setAttribute("aria-valuenow", "100");
        status.textContent = "";
        var link = document.createElement("a");
        link.href = href;
        link.textContent = "Already in your library — not uploaded again";
        status.appendChild(link);
        item.classList.add("upload-ok", "upload-duplicate");
        finished.push(item);
        tally.running -= 1;
        tally.duplicate += 1;
        showSummary();
      },
      fail: function (message) {
        if (bar.parentNode) bar.parentNode.removeChild(bar);
        status.textContent = "Not uploaded";
        status.classList.add("text-danger-emphasis");
        var error = document.createElement("div");
        error.className = "text-danger-emphasis small upload-error";
        error.setAttribute("role", "alert");
        error.textContent = message;
        item.appendChild(error);
        item.classList.add("upload-failed");
        tally.running -= 1;
        tally.failed += 1;
        showSummary();
      },
    };
  }

  function errorMessage(xhr) {
    try {
      return JSON.parse(xhr.responseText).error.message;
    } catch (e) {
      if (xhr.status === 413) return "The file is too large.";
      if (xhr.status === 0) return "The connection was lost; nothing was saved.";
      return "The server answered " + xhr.status + "; nothing was saved.";
    }
  }

  // The status rides along so callers can tell a lost answer (0, 5xx) from a refusal.
  function failure(xhr) {
    var error = new Error(errorMessage(xhr));
    error.status = xhr.status;
    return error;
  }

  function send(method, url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      Object.keys(headers).forEach(function (key) { xhr.setRequestHeader(key, headers[key]); });
      if (onProgress) {
        xhr.upload.addEventListener("progress", function (event) {
          if (event.lengthComputable) onProgress(event.loaded / event.total);
        });
      }
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
        else reject(failure(xhr));
      });
      xhr.addEventListener("error", function () { reject(failure(xhr)); });
      xhr.send(body);
    });
  }

  function apiJson(method, url, payload) {
    return send(method, url, JSON.stringify(payload), {
      "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json",
    }).then(function (xhr) { return JSON.parse(xhr.responseText); });
  }

  // One random Idempotency-Key per file, kept across the retry below: if the answer
  // was lost (connection dropped, instance restarting) the server may have stored the
  // file already, and then answers that first result instead of storing a copy.
  function uploadKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  var RETRY_STATUSES = [0, 502, 503, 504];

  function uploadViaApp(file, ui) {
    var headers = { "X-CSRFToken": csrfToken, Accept: "application/json", "Idempotency-Key": uploadKey() };
    function attempt(retriesLeft) {
      var data = new FormData();
      data.append("file", file, file.name || "pasted.png");
      return send("POST", gallery.dataset.api, data, headers, ui.progress)
        .then(function (xhr) { return JSON.parse(xhr.responseText); })
        .catch(function (error) {
          if (retriesLeft < 1 || RETRY_STATUSES.indexOf(error.status) < 0) throw error;
          return new Promise(function (resolve) { setTimeout(resolve, 2000); })
            .then(function () { return attempt(retriesLeft - 1); });
        });
    }
    return attempt(1);
  }

  // Files too big for Cloud Run's request limit go straight to the bucket.
  function uploadDirect(file, type, ui) {
    return apiJson("POST", apiBase + "/uploads", { size: file.size, content_type: type })
      .then(function (ticket) {
        return send(ticket.method, ticket.url, file, ticket.headers, ui.progress).then(function () {
          ui.progress(1);
          return apiJson("POST", apiBase + "/uploads/" + encodeURIComponent(ticket.upload_id) + "/complete", { filename: file.name });
        });
      });
  }

  function showQuota(info) {
    if (!info) return;
    document.getElementById("quota-used").textContent = humanBytes(info.used_bytes);
    document.getElementById("quota-remaining").textContent = humanBytes(info.remaining_bytes);
    document.getElementById("quota-images").textContent =
      info.used_images + (info.used_images === 1 ? " image" : " images");
  }

  // The file's first bytes say what it is; names (IMG_5001.HEIC, photo-from-chat,
  // tweet.jpg_large) and browser types often do not. The server stays the judge.
  function sniffType(bytes) {
    function at(offset, text) {
      for (var i = 0; i < text.length; i++) {
        if (bytes[offset + i] !== text.charCodeAt(i)) return false;
      }
      return true;
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
    if (bytes[0] === 0x89 && at(1, "PNG\r\n\x1a\n")) return "image/png";
    if (at(0, "GIF87a") || at(0, "GIF89a")) return "image/gif";
    if (at(0, "RIFF") && at(8, "WEBP")) return "image/webp";
    if (at(4, "ftyp")) {
      var size = (bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3];
      var brands = [String.fromCharCode.apply(null, bytes.slice(8, 12))];
      for (var offset = 16; offset + 4 <= Math.min(size, bytes.length); offset += 4) {
        brands.push(String.fromCharCode.apply(null, bytes.slice(offset, offset + 4)));
      }
      if (brands.indexOf("avif") !== -1 || brands.indexOf("avis") !== -1) return "image/avif";
      var heif = ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"];
      if (brands.some(function (brand) { return heif.indexOf(brand) !== -1; })) return "image/heic";
    }
    return null;
  }

  function typeProblem(bytes) {
    var allowed = "Picbucket takes JPEG, PNG, GIF, WebP, AVIF and HEIC images.";
    var text = String.fromCharCode.apply(null, bytes.slice(0, 64)).replace(/^[\ufeff\u00ef\u00bb\u00bf\s\0]+/, "").toLowerCase();
    if (text.indexOf("<") === 0) return "SVG drawings, HTML and other text files can’t be uploaded (they can carry scripts). " + allowed;
    if (!bytes.length) return "This file is empty. " + allowed;
    return "This isn’t an image Picbucket can read. " + allowed;
  }

  function firstBytes(file) {
    return file.slice(0, 64).arrayBuffer().then(function (buffer) { return new Uint8Array(buffer); });
  }

  function uploadFile(file) {
    var ui = row(file);
    firstBytes(file).then(function (bytes) {
      var type = sniffType(bytes);
      if (!type) {
        ui.fail(typeProblem(bytes));
        return;
      }
      startUpload(file, type, ui);
    }, function () { ui.fail("This file could not be read."); });
  }

  function startUpload(file, type, ui) {
    var direct = file.size > maxUpload;
    if (direct && !(directEnabled && file.size <= maxDirect)) {
      var limit = directEnabled ? maxDirect : maxUpload;
      ui.fail("This file is " + humanBytes(file.size) + ", over the " + humanBytes(limit) + " limit per image. Try a smaller or more compressed copy.");
      return;
    }
    schedule(function () {
      return (direct ? uploadDirect(file, type, ui) : uploadViaApp(file, ui))
        .then(function (image) {
          if (image.duplicate) {
            ui.duplicate(gallery.dataset.home + "?photo=" + encodeURIComponent(image.id));
            announce((file.name || "The pasted image") + " is already in your library; it was not uploaded again.");
            return;
          }
          ui.done("Uploaded");
          document.getElementById("gallery-empty").classList.add("d-none");
          prependUpload(image);
          gallery.dispatchEvent(new CustomEvent("picbucket:tiles"));
          showQuota(image.quota);
          announce((file.name || "The pasted image") + " is uploaded.");
        })
        .catch(function (error) { ui.fail(error.message); });
    });
  }

  // A folder of 200 photos should not open 200 connections at once: a few uploads
  // run at a time and the rest wait their turn (their rows show 0% until then).
  var MAX_PARALLEL_UPLOADS = 3;
  var uploadsRunning = 0;
  var uploadsWaiting = [];

  function schedule(task) {
    uploadsWaiting.push(task);
    startWaitingUploads();
  }

  function startWaitingUploads() {
    while (uploadsRunning < MAX_PARALLEL_UPLOADS && uploadsWaiting.length) {
      uploadsRunning += 1;
      uploadsWaiting.shift()().finally(function () {
        uploadsRunning -= 1;
        startWaitingUploads();
      });
    }
  }

  function uploadAll(files) {
    Array.prototype.forEach.call(files, uploadFile);
  }

  document.getElementById("choose-files").addEventListener("click", function () { input.click(); });
  input.addEventListener("change", function () {
    uploadAll(input.files);
    input.value = "";
  });

  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") !== -1) {
        event.preventDefault();
        form.classList.add("dropzone-active");
      }
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    document.addEventListener(name, function () { form.classList.remove("dropzone-active"); });
  });
  document.addEventListener("drop", function (event) {
    if (event.dataTransfer && event.dataTransfer.files.length) {
      event.preventDefault();
      uploadAll(event.dataTransfer.files);
    }
  });
  document.addEventListener("paste", function (event) {
    var files = [];
    var items = (event.clipboardData && event.clipboardData.items) || [];
    Array.prototype.forEach.call(items, function (item) {
      if (item.kind === "file") {
        var file = item.getAsFile();
        if (file) files.push(file);
      }
    });
    if (files.length) {
      event.preventDefault();
      uploadAll(files);
    }
  });
})();
