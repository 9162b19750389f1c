// Picbucket page behaviour: uploads with progress, copy buttons, infinite scroll.
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
    return item;
  }

  var loadMore = document.getElementById("load-more");
  var loading = false;
  var observer = null;

  function loadNextPage() {
    if (!loadMore || loading) return;
    loading = true;
    loadMore.textContent = "Loading…";
    var url = gallery.dataset.api + "?cursor=" + encodeURIComponent(loadMore.dataset.cursor);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (page) {
        page.items.forEach(function (image) { gallery.appendChild(card(image)); });
        announce(page.items.length === 1 ? "Loaded 1 more image." : "Loaded " + page.items.length + " more images.");
        if (page.next_cursor) {
          loadMore.dataset.cursor = page.next_cursor;
          loadMore.href = "?cursor=" + encodeURIComponent(page.next_cursor);
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
      })
      .catch(function () {
        if (loadMore) loadMore.textContent = "Load more (the last try failed)";
      })
      .finally(function () { loading = false; });
  }

  if (loadMore) {
    loadMore.addEventListener("click", function (event) {
      event.preventDefault();
      loadNextPage();
    });
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) loadNextPage();
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

  function row(file) {
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
        else reject(new Error(errorMessage(xhr)));
      });
      xhr.addEventListener("error", function () { reject(new Error(errorMessage(xhr))); });
      xhr.send(body);
    });
  }

  function apiJson(method, url, payload) {
    return send(method, url, JSON.stringify(payload), {
      "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json",
    }).then(function (xhr) { return JSON.parse(xhr.responseText); });
  }

  function uploadViaApp(file, ui) {
    var data = new FormData();
    data.append("file", file, file.name || "pasted.png");
    return send("POST", gallery.dataset.api, data, { "X-CSRFToken": csrfToken, Accept: "application/json" }, ui.progress)
      .then(function (xhr) { return JSON.parse(xhr.responseText); });
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
          ui.done("Uploaded");
          document.getElementById("gallery-empty").classList.add("d-none");
          gallery.insertBefore(card(image, true), gallery.firstChild);
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
