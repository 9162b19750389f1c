// The full-screen photo viewer over the gallery. Plain DOM code, no library.
// Its address is the gallery's with ?photo=<id>: a deep link opens it, Back closes it,
// next/previous replace the address (so Back still leaves the viewer in one step).
// Without JavaScript none of this runs and the grid's links open the plain image page.
(function () {
  "use strict";

  var gallery = document.getElementById("gallery");
  var dialog = document.getElementById("viewer");
  if (!gallery || !dialog) return;
  // Outside <main>, so the rest of the page can be made inert while it is open.
  document.body.appendChild(dialog);

  function part(name) { return dialog.querySelector('[data-viewer="' + name + '"]'); }
  var img = part("img");
  var stage = part("stage");
  var meta = part("meta");
  var status = part("status");
  var loading = part("loading");
  var title = document.getElementById("viewer-title");
  var prevButton = part("prev");
  var nextButton = part("next");
  var zoomButton = part("zoom");
  var pager = window.picbucketGallery;

  var current = null;      // the photo shown (the API's image JSON)
  var opener = null;       // what had focus before the viewer opened
  var pushed = false;      // whether opening added a history entry (then close = Back)
  var zoomed = false;
  // A deep-linked photo that is not in the grid: the photos after it, paged by cursor.
  var detached = null;

  // Browsers show these originals themselves; others (HEIC) zoom into the display copy.
  var VIEWABLE = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"];

  function links() {
    // Tiles just moved to the trash stay hidden in the grid (for Undo): skip them.
    return Array.prototype.slice.call(gallery.querySelectorAll("li:not([hidden]) > a.gallery-link[data-photo]"));
  }
  function photoOf(link) { return JSON.parse(link.dataset.photo); }
  function linkOf(id) {
    return links().filter(function (link) { return photoOf(link).id === id; })[0] || null;
  }
  function path(url) { var u = new URL(url, location.href); return u.pathname + u.search; }

  function addressFor(id) {
    var url = new URL(location.href);
    if (id) url.searchParams.set("photo", id); else url.searchParams.delete("photo");
    return url.pathname + url.search + url.hash;
  }

  // ---- What is shown -------------------------------------------------------
  function humanBytes(size) {
    if (size < 1048576) return Math.max(1, Math.round(size / 1024)) + " KB";
    return (size / 1048576).toFixed(1) + " MB";
  }

  function localTime(iso) {
    // The viewer's own time zone and language; the server's UTC text is the fallback.
    return new Date(iso).toLocaleString(undefined, {
      year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
  }

  function describe(photo) {
    var when = photo.taken_at ? "Taken " + localTime(photo.taken_at) : "Uploaded " + localTime(photo.created);
    return when + " · " + photo.width + " × " + photo.height + " px · " + humanBytes(photo.bytes);
  }

  function show(photo) {
    current = photo;
    setZoom(false);
    title.textContent = photo.title;
    meta.textContent = describe(photo);
    img.alt = photo.title;
    img.width = photo.width;
    img.height = photo.height;
    loading.hidden = false;
    img.onload = function () { loading.hidden = true; };
    img.src = photo.display_url;
    var page = path(photo.page_url);
    part("download").href = page + "/download";
    part("details").href = page;
    part("share").href = page + "#share";  // the image page's Share section
    part("delete").action = page + "/delete";
    updateButtons();
    preloadNeighbours();
  }

  function preloadNeighbours() {
    [neighbour(-1), neighbour(1)].forEach(function (photo) {
      if (photo) (new Image()).src = photo.display_url;
    });
  }

  // ---- The sequence: the grid's photos, then the next pages ---------------------
  function index() {
    var all = links();
    for (var i = 0; i < all.length; i++) if (photoOf(all[i]).id === current.id) return { list: all.map(photoOf), at: i };
    if (detached) {
      for (var j = 0; j < detached.photos.length; j++) if (detached.photos[j].id === current.id) return { list: detached.photos, at: j };
    }
    return { list: [current], at: 0 };
  }

  function neighbour(step) {
    var where = index();
    return where.list[where.at + step] || null;
  }

  function moreAvailable() {
    if (linkOf(current.id)) return Boolean(pager && pager.hasMore());
    return Boolean(detached && detached.cursor);
  }

  function updateButtons() {
    var focused = document.activeElement;
    prevButton.disabled = !neighbour(-1);
    nextButton.disabled = !neighbour(1) && !moreAvailable();
    // A disabled button drops focus to <body>: keep it in the dialog.
    if (focused && focused.disabled) {
      var other = focused === nextButton ? prevButton : nextButton;
      (other.disabled ? part("close") : other).focus();
    }
  }

  function fetchDetached() {
    var url = gallery.dataset.api + "?sort=" + encodeURIComponent(gallery.dataset.sort) +
      "&q=" + encodeURIComponent(gallery.dataset.query) + "&cursor=" + encodeURIComponent(detached.cursor);
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) throw new Error("HTTP " + response.status); return response.json(); })
      .then(function (page) {
        detached.photos = detached.photos.concat(page.items);
        detached.cursor = page.next_cursor;
      });
  }

  var moving = false;
  function go(step) {
    if (!current || moving) return;
    var photo = neighbour(step);
    if (photo) { move(photo); return; }
    if (step < 0 || !moreAvailable()) { say(step < 0 ? "This is the first photo." : "This is the last photo."); return; }
    moving = true;
    say("Loading more photos…");
    var more = linkOf(current.id) ? pager.loadMore() : fetchDetached();
    more.then(function () {
      var next = neighbour(1);
      if (next) move(next); else { updateButtons(); say("This is the last photo."); }
    }, function () { say("The next photos could not be loaded."); })
      .finally(function () { moving = false; });
  }

  function move(photo) {
    show(photo);
    history.replaceState({ photo: photo.id }, "", addressFor(photo.id));
    var where = index();
    say(photo.title + ", photo " + (where.at + 1) + (moreAvailable() ? "" : " of " + where.list.length));
  }

  function say(message) {
    status.textContent = "";
    setTimeout(function () { status.textContent = message; }, 30);
  }

  // ---- Zoom: 100 % loads the original only when asked --------------------------
  function setZoom(on, pointX, pointY) {
    zoomed = on;
    zoomButton.setAttribute("aria-pressed", on ? "true" : "false");
    stage.classList.toggle("is-zoomed", on);
    if (!current) return;
    if (!on) { if (img.src !== current.display_url) img.src = current.display_url; return; }
    var fx = pointX === undefined ? 0.5 : pointX;
    var fy = pointY === undefined ? 0.5 : pointY;
    var original = VIEWABLE.indexOf(current.content_type) !== -1 ? current.image_url : current.display_url;
    function centre() {
      stage.scrollLeft = img.offsetWidth * fx - stage.clientWidth / 2;
      stage.scrollTop = img.offsetHeight * fy - stage.clientHeight / 2;
    }
    if (img.src !== original) {
      loading.hidden = false;
      img.onload = function () { loading.hidden = true; centre(); };
      img.src = original;
    }
    centre();
    say("Zoomed to 100 %.");
  }

  zoomButton.addEventListener("click", function () { setZoom(!zoomed); });
  img.addEventListener("dblclick", function (event) {
    var box = img.getBoundingClientRect();
    setZoom(!zoomed, (event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
  });

  // Drag to pan a zoomed photo with a mouse (touch scrolls natively).
  var drag = null;
  stage.addEventListener("mousedown", function (event) {
    if (!zoomed) return;
    drag = { x: event.clientX, y: event.clientY, left: stage.scrollLeft, top: stage.scrollTop };
    event.preventDefault();
  });
  document.addEventListener("mousemove", function (event) {
    if (!drag) return;
    stage.scrollLeft = drag.left - (event.clientX - drag.x);
    stage.scrollTop = drag.top - (event.clientY - drag.y);
  });
  document.addEventListener("mouseup", function () { drag = null; });

  // ---- Swipe ---------------------------------------------------------------
  var touch = null;
  stage.addEventListener("touchstart", function (event) {
    if (zoomed || event.touches.length !== 1) { touch = null; return; }
    touch = { x: event.touches[0].clientX, y: event.touches[0].clientY };
  }, { passive: true });
  stage.addEventListener("touchend", function (event) {
    if (!touch || !event.changedTouches.length) return;
    var dx = event.changedTouches[0].clientX - touch.x;
    var dy = event.changedTouches[0].clientY - touch.y;
    touch = null;
    if (Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy) * 1.5) go(dx < 0 ? 1 : -1);
  });

  // ---- Open and close --------------------------------------------------------
  function open(photo, push) {
    if (dialog.hidden) {
      opener = document.activeElement;
      Array.prototype.forEach.call(document.body.children, function (child) {
        if (child !== dialog && child.tagName !== "SCRIPT") child.inert = true;
      });
      document.documentElement.classList.add("viewer-open");
      dialog.hidden = false;
    }
    show(photo);
    if (push) {
      history.pushState({ photo: photo.id }, "", addressFor(photo.id));
      pushed = true;
    }
    part("close").focus();
  }

  function closeView() {
    if (dialog.hidden) return;
    dialog.hidden = true;
    setZoom(false);
    img.removeAttribute("src");
    Array.prototype.forEach.call(document.body.children, function (child) { child.inert = false; });
    document.documentElement.classList.remove("viewer-open");
    // Back to the photo last seen in the grid (it may be pages past the one opened).
    var link = current && linkOf(current.id);
    var target = link || opener;
    if (link) link.scrollIntoView({ block: "nearest" });
    if (target && target.focus) target.focus();
    current = null;
  }

  function close() {
    if (pushed) { pushed = false; history.back(); return; }  // popstate closes it
    history.replaceState(null, "", addressFor(null));
    closeView();
  }

  window.addEventListener("popstate", function () {
    var id = new URL(location.href).searchParams.get("photo");
    if (!id) { pushed = false; closeView(); return; }
    var link = linkOf(id);
    if (link) open(photoOf(link), false);
  });

  gallery.addEventListener("click", function (event) {
    var link = event.target.closest("a.gallery-link[data-photo]");
    // Modified clicks keep their meaning (new tab, download...): the plain page opens.
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    detached = null;
    open(photoOf(link), true);
  });

  part("close").addEventListener("click", close);
  prevButton.addEventListener("click", function () { go(-1); });
  nextButton.addEventListener("click", function () { go(1); });

  // On the document, not the dialog: keys work wherever focus is while it is open.
  document.addEventListener("keydown", function (event) {
    if (dialog.hidden) return;
    if (event.key === "Escape") { event.preventDefault(); close(); return; }
    if (event.key === "Tab") { trap(event); return; }
    if (event.target.closest("input, textarea")) return;
    if (event.key === "ArrowRight") { event.preventDefault(); go(1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); go(-1); }
    else if (event.key === "z" || event.key === "Z" || event.key === "+") { setZoom(!zoomed); }
  });

  // Keep Tab inside the dialog (aria-modal says so; inert makes sure).
  function trap(event) {
    var items = Array.prototype.filter.call(
      dialog.querySelectorAll("button, a[href], input:not([type=hidden])"),
      function (el) { return !el.disabled && el.offsetParent !== null; }
    );
    if (!items.length) return;
    var first = items[0];
    var last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
  }

  // ---- A deep link: /?photo=<id> opens the viewer on load ----------------------
  if (gallery.dataset.open) {
    var opened = JSON.parse(gallery.dataset.open);
    if (!linkOf(opened.photo.id)) detached = { photos: [opened.photo], cursor: opened.after };
    var link = linkOf(opened.photo.id);
    open(link ? photoOf(link) : opened.photo, false);
  }
})();
