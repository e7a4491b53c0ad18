// nines public status page: day details of the 90-day bars on hover, tap and
// keyboard focus (arrow keys move through the days, Enter opens the day's
// incidents; the details are announced to screen readers), collapsed groups
// loaded when opened, and live refresh by polling /status/currentState.
(function () {
  "use strict";
  var DAY = 86400000;
  var words = { o: "Operational", w: "Degraded", e: "Down", n: "No data" };
  var tip = document.getElementById("tip");
  // a page's links start with its prefix (/p/{slug}, or nothing at the root)
  var prefix = document.body.dataset.prefix || "";
  var live = document.getElementById("live");

  function dayOf(bar, k) {
    var first = Date.parse(bar.dataset.first + "T00:00:00Z");
    return new Date(first + k * DAY).toISOString().slice(0, 10);
  }
  function extra(bar, k) {
    var parts = (bar.dataset.x || "").split(";");
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (eq > 0 && +parts[i].slice(0, eq) === k) return parts[i].slice(eq + 1);
    }
    var c = bar.dataset.d.charAt(k);
    return c === "o" ? bar.dataset.ok : "";
  }
  function text(bar, k) {
    var c = bar.dataset.d.charAt(k);
    var x = extra(bar, k);
    return dayOf(bar, k) + ": " + (words[c] || c) + (x ? " — " + x : "");
  }
  function show(bar, k, announce) {
    var n = bar.dataset.d.length;
    k = Math.max(0, Math.min(n - 1, k));
    bar.dataset.k = k;
    var cur = bar.querySelector(".cursor");
    if (!cur) { cur = document.createElement("span"); cur.className = "cursor"; bar.appendChild(cur); }
    var svg = bar.querySelector("svg");
    var w = svg.getBoundingClientRect().width;
    cur.style.left = (k * w / n - 2) + "px";
    cur.style.width = Math.max(4, w / n + 2) + "px";
    tip.textContent = text(bar, k);
    tip.hidden = false;
    var r = svg.getBoundingClientRect();
    var left = window.scrollX + r.left + k * w / n;
    tip.style.top = (window.scrollY + r.bottom + 6) + "px";
    tip.style.left = Math.max(4, Math.min(left - 60, document.documentElement.clientWidth - tip.offsetWidth - 4)) + "px";
    if (announce) live.textContent = tip.textContent;
  }
  function hide(bar) {
    tip.hidden = true;
    var cur = bar && bar.querySelector(".cursor");
    if (cur) cur.remove();
  }
  function indexAt(bar, clientX) {
    var r = bar.querySelector("svg").getBoundingClientRect();
    return Math.floor((clientX - r.left) / r.width * bar.dataset.d.length);
  }
  function open(bar, k) { location.href = prefix + "/status-page/day/" + dayOf(bar, k); }

  function wire(root) {
    root.querySelectorAll(".bar").forEach(function (bar) {
      if (bar.dataset.wired) return;
      bar.dataset.wired = "1";
      bar.addEventListener("mousemove", function (e) { show(bar, indexAt(bar, e.clientX), false); });
      bar.addEventListener("mouseleave", function () { if (document.activeElement !== bar) hide(bar); });
      bar.addEventListener("click", function (e) {
        var k = indexAt(bar, e.clientX);
        // a second tap on the same day opens it
        if (!tip.hidden && +bar.dataset.k === k && bar.dataset.tapped === "1") { open(bar, k); return; }
        bar.dataset.tapped = "1";
        show(bar, k, true);
      });
      bar.addEventListener("focus", function () {
        show(bar, bar.dataset.k !== undefined ? +bar.dataset.k : bar.dataset.d.length - 1, true);
      });
      bar.addEventListener("blur", function () { bar.dataset.tapped = ""; hide(bar); });
      bar.addEventListener("keydown", function (e) {
        var k = bar.dataset.k !== undefined ? +bar.dataset.k : bar.dataset.d.length - 1;
        var n = bar.dataset.d.length;
        var to = { ArrowLeft: k - 1, ArrowRight: k + 1, Home: 0, End: n - 1 }[e.key];
        if (to !== undefined) { e.preventDefault(); show(bar, to, true); }
        else if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(bar, k); }
        else if (e.key === "Escape") { hide(bar); }
      });
    });
    root.querySelectorAll("details[data-src]").forEach(function (d) {
      if (d.dataset.wired) return;
      d.dataset.wired = "1";
      d.addEventListener("toggle", function () {
        if (!d.open || d.dataset.loaded) return;
        d.dataset.loaded = "1";
        fetch(d.dataset.src).then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); }).then(function (html) {
          var box = document.createElement("div");
          box.innerHTML = html;
          d.appendChild(box);
          wire(box);
        }).catch(function () { d.dataset.loaded = ""; });
      });
    });
  }
  wire(document);

  // live refresh: when the overall state changes, or every few minutes,
  // fetch the page again and swap its content (keeping focus where it was)
  var main = document.getElementById("main");
  if (!main || main.dataset.state === undefined) return;
  var ticks = 0;
  function swap() {
    return fetch(location.pathname, { cache: "no-cache" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("main");
      if (!fresh || fresh.dataset.version === main.dataset.version) return;
      var focusedId = document.activeElement && document.activeElement.closest("section[id]");
      focusedId = focusedId ? focusedId.id : null;
      var opened = [];
      main.querySelectorAll("details[open]").forEach(function (d) { opened.push(d.dataset.src); });
      main.replaceWith(fresh);
      main = fresh;
      opened.forEach(function (src) { var d = main.querySelector('details[data-src="' + src + '"]'); if (d) d.open = true; });
      wire(main);
      if (focusedId) { var s = document.getElementById(focusedId); var b = s && s.querySelector(".bar"); if (b) b.focus({ preventScroll: true }); }
    });
  }
  setInterval(function () {
    if (document.hidden) return;
    ticks++;
    fetch(prefix + "/status/currentState", { cache: "no-cache" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (st) {
      if (st === null) return;
      if (st.trim() !== main.dataset.state || ticks % 6 === 0) return swap();
    }).catch(function () {});
  }, 20000);
})();
