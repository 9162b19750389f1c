// The gallery's selection: checks on the tiles, a bar of bulk actions (gallery.html).
// Each action is one request whatever the count (the server works in batches), so
// 1,000 selected photos cost one POST, not 1,000. Loaded after app.js (defer), whose
// live region it speaks through (window.picbucketAnnounce).
(function () {
  "use strict";

  var gallery = document.getElementById("gallery");
  if (!gallery || gallery.dataset.selectable !== "true") return;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.content : "";
  var announce = window.picbucketAnnounce || function () {};
  var bar = document.getElementById("select-bar");
  if (!bar) return;
  var countText = document.getElementById("select-count");
  var toast = document.getElementById("select-toast");
  var picker = document.getElementById("album-picker");
  var sharer = document.getElementById("share-picker");
  var MAX_BULK = 1000;  // the bulk API's and the zip form's limit per request
  var selected = {};   // id -> true
  var count = 0;
  var anchor = null;   // the tile a shift-click or Shift+arrow range starts from

  function tiles() {
    return Array.prototype.filter.call(gallery.querySelectorAll("li.gallery-item"), function (li) {
      return !li.hidden;
    });
  }
  function tileOf(element) { return element.closest ? element.closest("li.gallery-item") : null; }
  function selectedIds() {
    return tiles().map(function (li) { return li.dataset.id; }).filter(function (id) { return selected[id]; });
  }
  function titleOf(li) { var img = li.querySelector("img"); return img ? img.alt : "photo"; }
  function plural(n, one) { return n + " " + (n === 1 ? one : one + "s"); }

  function mark(li, on) {
    var id = li.dataset.id;
    if (Boolean(selected[id]) === on) return;
    if (on) { selected[id] = true; count += 1; } else { delete selected[id]; count -= 1; }
    li.classList.toggle("is-selected", on);
    var check = li.querySelector(".select-check");
    check.setAttribute("aria-pressed", on ? "true" : "false");
    check.setAttribute("aria-label", (on ? "Selected: " : "Select ") + titleOf(li));
  }

  function refresh() {
    var selecting = count > 0;
    bar.hidden = !selecting;
    gallery.classList.toggle("is-selecting", selecting);
    document.body.classList.toggle("has-select-bar", selecting);
    countText.textContent = count + " selected";
    var all = tiles();
    // aria-disabled, not disabled: a disabled button would drop the keyboard's focus.
    bar.querySelector('[data-select="all"]').setAttribute("aria-disabled", String(all.length > 0 && count >= all.length));
  }

  function range(from, to) {
    var all = tiles();
    var a = all.indexOf(from);
    var b = all.indexOf(to);
    if (a < 0 || b < 0) { mark(to, true); return; }
    for (var i = Math.min(a, b); i <= Math.max(a, b); i++) mark(all[i], true);
  }

  // A plain toggle moves the anchor; with Shift, everything from the anchor is selected.
  function choose(li, extend) {
    if (extend && anchor && anchor.isConnected && !anchor.hidden) range(anchor, li);
    else { mark(li, !selected[li.dataset.id]); anchor = li; }
    refresh();
  }

  function clear() {
    tiles().forEach(function (li) { mark(li, false); });
    Array.prototype.forEach.call(gallery.querySelectorAll("li.gallery-item.is-selected"), function (li) { mark(li, false); });
    selected = {};
    count = 0;
    anchor = null;
    refresh();
  }

  // Capture phase: the choice is made before viewer.js sees the click.
  gallery.addEventListener("click", function (event) {
    var li = tileOf(event.target);
    if (!li || event.button !== 0) return;
    var onCheck = Boolean(event.target.closest(".select-check"));
    if (!onCheck && count === 0) return;  // not selecting: the viewer opens
    if (!onCheck && (event.ctrlKey || event.metaKey)) return;  // new tab, as ever
    event.preventDefault();
    event.stopPropagation();
    choose(li, event.shiftKey);
  }, true);

  // The tile below or above: the nearest in the next row of the grid.
  function vertical(li, down) {
    var here = li.getBoundingClientRect();
    var best = null;
    var bestRow = null;
    var bestDx = Infinity;
    tiles().forEach(function (other) {
      var box = other.getBoundingClientRect();
      var beyond = down ? box.top > here.top + 2 : box.top < here.top - 2;
      if (!beyond) return;
      if (bestRow === null || (down ? box.top < bestRow - 2 : box.top > bestRow + 2)) {
        bestRow = box.top; best = other; bestDx = Math.abs(box.left - here.left);
      } else if (Math.abs(box.top - bestRow) <= 2 && Math.abs(box.left - here.left) < bestDx) {
        best = other; bestDx = Math.abs(box.left - here.left);
      }
    });
    return best;
  }

  gallery.addEventListener("keydown", function (event) {
    var li = tileOf(event.target);
    if (!li || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === " " || event.key === "Spacebar") {
      event.preventDefault();  // Space on a link would scroll the page
      choose(li, event.shiftKey);
      return;
    }
    var all = tiles();
    var at = all.indexOf(li);
    var next = null;
    if (event.key === "ArrowRight") next = all[at + 1];
    else if (event.key === "ArrowLeft") next = all[at - 1];
    else if (event.key === "ArrowDown") next = vertical(li, true);
    else if (event.key === "ArrowUp") next = vertical(li, false);
    else return;
    event.preventDefault();
    if (!next) return;
    var onCheck = Boolean(event.target.closest(".select-check"));
    next.querySelector(onCheck ? ".select-check" : ".gallery-link").focus();
    if (event.shiftKey) {
      if (!anchor || !selected[anchor.dataset.id]) { anchor = li; mark(li, true); }
      range(anchor, next);
      refresh();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || count === 0 || event.defaultPrevented) return;
    if (document.querySelector("dialog[open]") || !document.getElementById("viewer").hidden) return;
    clear();
    announce("Selection cleared.");
  });

  // ---- Messages with an optional Undo or link ------------------------------------
  var toastText = toast.querySelector('[data-toast="text"]');
  var toastUndo = toast.querySelector('[data-toast="undo"]');
  var toastLink = toast.querySelector('[data-toast="link"]');
  var undoAction = null;
  function say(text, options) {
    options = options || {};
    toast.hidden = false;
    toastText.textContent = text;
    undoAction = options.undo || null;
    toastUndo.hidden = !undoAction;
    toastLink.hidden = !options.href;
    if (options.href) { toastLink.href = options.href; toastLink.textContent = options.linkText; }
  }
  toast.querySelector('[data-toast="close"]').addEventListener("click", function () {
    toast.hidden = true;
    undoAction = null;
  });
  toastUndo.addEventListener("click", function () {
    var action = undoAction;
    undoAction = null;
    toastUndo.hidden = true;
    if (action) action();
  });

  function failed(error) { say(error.message || "That did not work; nothing changed."); }

  function postJson(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          throw new Error((body.error && body.error.message) || "The server answered " + response.status + "; nothing changed.");
        }
        return body;
      });
    });
  }
  function bulk(payload) { return postJson(bar.dataset.bulk, payload); }

  // Presses are ignored while a request runs (a double press would repeat the action);
  // the buttons stay enabled so the keyboard's focus stays where it was.
  var working = false;
  function busy(on) {
    working = on;
    bar.setAttribute("aria-busy", on ? "true" : "false");
  }

  // ---- Trash, with undo ---------------------------------------------------------
  function setHidden(ids, hidden) {
    var wanted = {};
    ids.forEach(function (id) { wanted[id] = true; });
    Array.prototype.forEach.call(gallery.querySelectorAll("li.gallery-item"), function (li) {
      if (wanted[li.dataset.id]) li.hidden = hidden;
    });
    Array.prototype.forEach.call(gallery.querySelectorAll("section.gallery-month"), function (section) {
      section.hidden = !section.querySelector("li.gallery-item:not([hidden])");
    });
  }

  function trash() {
    var ids = selectedIds();
    busy(true);
    bulk({ action: "trash", image_ids: ids }).then(function (result) {
      clear();
      setHidden(result.image_ids, true);
      say(plural(result.done, "photo") + " moved to the trash.", {
        undo: function () { restore(result.image_ids); },
        href: bar.dataset.trash, linkText: "Open the trash",
      });
      toastUndo.focus();
    }, failed).finally(function () { busy(false); });
  }

  function restore(ids) {
    bulk({ action: "restore", image_ids: ids }).then(function (result) {
      setHidden(result.image_ids, false);
      say(plural(result.done, "photo") + " restored.");
    }, failed);
  }

  // ---- Download: the browser saves the zip the form's answer streams ---------------
  function download() {
    var ids = selectedIds();
    var zipForm = document.createElement("form");
    zipForm.method = "post";
    zipForm.action = bar.dataset.download;
    zipForm.hidden = true;
    [["csrf_token", csrfToken]].concat(ids.map(function (id) { return ["image_id", id]; })).forEach(function (pair) {
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = pair[0];
      field.value = pair[1];
      zipForm.appendChild(field);
    });
    document.body.appendChild(zipForm);
    zipForm.submit();
    document.body.removeChild(zipForm);
    say("Downloading " + plural(ids.length, "photo") + " as a zip…");
  }

  // ---- Add to album: pick one or name a new one ------------------------------------
  var pickerList = picker.querySelector('[data-picker="list"]');
  var pickerStatus = picker.querySelector('[data-picker="status"]');
  var pickerNew = picker.querySelector('[data-picker="new"]');

  function addTo(album) {
    var ids = selectedIds();
    return bulk({ action: "add_to_album", album_id: album.id, image_ids: ids }).then(function (result) {
      picker.close();
      clear();
      say("Added " + plural(ids.length, "photo") + " to “" + result.album.title + "”.", {
        href: result.album.page_url, linkText: "Open the album",
      });
    });
  }

  function openPicker() {
    picker.querySelector('[data-picker="count"]').textContent = plural(count, "photo");
    pickerList.textContent = "";
    pickerStatus.textContent = "Loading your albums…";
    pickerNew.reset();
    picker.showModal();
    fetch(bar.dataset.albums, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("Your albums could not be loaded.");
        return response.json();
      })
      .then(function (answer) {
        pickerStatus.textContent = answer.items.length ? "Your albums:" : "You have no albums yet.";
        answer.items.forEach(function (album) {
          var item = document.createElement("li");
          var choice = document.createElement("button");
          choice.type = "button";
          choice.className = "album-choice";
          var name = document.createElement("span");
          name.textContent = album.title;
          var size = document.createElement("span");
          size.className = "text-body-secondary small";
          size.textContent = plural(album.photo_count, "photo");
          choice.appendChild(name);
          choice.appendChild(size);
          choice.addEventListener("click", function () {
            choice.disabled = true;
            addTo(album).catch(function (error) { choice.disabled = false; pickerStatus.textContent = error.message; });
          });
          item.appendChild(choice);
          pickerList.appendChild(item);
        });
      })
      .catch(function (error) { pickerStatus.textContent = error.message; });
  }

  pickerNew.addEventListener("submit", function (event) {
    event.preventDefault();
    var create = pickerNew.querySelector("button[type=submit]");
    create.disabled = true;
    postJson(bar.dataset.albums, { title: pickerNew.elements.title.value })
      .then(addTo)
      .catch(function (error) { pickerStatus.textContent = error.message; })
      .finally(function () { create.disabled = false; });
  });

  // ---- Share: a new album of the selection, with a public link ----------------------
  var shareForm = sharer.querySelector('[data-share="form"]');
  var shareResult = sharer.querySelector('[data-share="result"]');

  function openSharer() {
    sharer.querySelector('[data-share="count"]').textContent = plural(count, "photo");
    shareForm.reset();
    shareForm.hidden = false;
    shareResult.hidden = true;
    shareForm.elements.title.value = "Shared photos, " + new Date().toLocaleDateString(undefined, { day: "numeric", month: "long", year: "numeric" });
    sharer.showModal();
  }

  shareForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var create = shareForm.querySelector("button[type=submit]");
    create.disabled = true;
    bulk({
      action: "share_album", image_ids: selectedIds(),
      title: shareForm.elements.title.value, link: { expires: shareForm.elements.expires.value },
    }).then(function (result) {
      clear();
      shareForm.hidden = true;
      shareResult.hidden = false;
      sharer.querySelector('[data-share="said"]').textContent =
        "“" + result.album.title + "” holds " + plural(result.done, "photo") + ".";
      sharer.querySelector('[data-share="album"]').href = result.album.page_url;
      var url = document.getElementById("share-url");
      url.value = result.share.share_url;
      url.focus();
      url.select();
    }, function (error) {
      say(error.message);
    }).finally(function () { create.disabled = false; });
  });

  Array.prototype.forEach.call(document.querySelectorAll("dialog [data-dialog=close]"), function (button) {
    button.addEventListener("click", function () { button.closest("dialog").close(); });
  });

  bar.addEventListener("click", function (event) {
    var button = event.target.closest("[data-select]");
    if (!button || working) return;
    var action = button.dataset.select;
    if (action === "clear") { clear(); announce("Selection cleared."); }
    else if (action === "all") { tiles().forEach(function (li) { mark(li, true); }); refresh(); }
    else if (count > MAX_BULK) say("Up to 1,000 photos at a time, please: " + count + " are selected.");
    else if (action === "trash") trash();
    else if (action === "download") download();
    else if (action === "album") openPicker();
    else if (action === "share") openSharer();
  });

  // Tiles that arrive later (next pages, uploads) make "Select all loaded" useful again.
  gallery.addEventListener("picbucket:tiles", refresh);
  refresh();
})();
