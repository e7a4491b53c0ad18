// nines dashboard: live updates over server-sent events, and the tree's
// expand/collapse-all buttons. The server renders every label it sends; this
// script only swaps them in. Pages work without it (reload to refresh).
(function () {
  'use strict';

  function onReady(fn) {
    if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', fn); } else { fn(); }
  }

  onReady(function () {
    document.querySelectorAll('button[data-tree]').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var open = btn.getAttribute('data-tree') === 'open';
        document.querySelectorAll('ul.tree details').forEach(function (d) { d.open = open; });
      });
    });

    var after = document.body.getAttribute('data-live-after');
    if (after === null || !window.EventSource) { return; }
    var state = document.getElementById('live-state');
    var announce = document.getElementById('live');
    function setState(text, cls) {
      if (!state) { return; }
      state.textContent = text;
      state.className = 'lbl ' + cls;
    }
    var es = new EventSource('/ui/events?after=' + encodeURIComponent(after));
    es.addEventListener('open', function () { setState('live', 'st-ok'); });
    es.addEventListener('error', function () {
      if (es.readyState === EventSource.CLOSED) {
        setState('not live: reload the page', 'st-down');
      } else {
        setState('reconnecting…', 'st-unknown');
      }
    });
    es.addEventListener('update', function (e) {
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      var said = [];
      (data.items || []).forEach(function (it) {
        var sel = '[data-live="' + CSS.escape(it.key) + '"]';
        document.querySelectorAll(sel).forEach(function (el) { el.innerHTML = it.html; });
        if (it.say) { said.push(it.say); }
      });
      if (said.length && announce) { announce.textContent = said.slice(0, 5).join('. '); }
      setState('live', 'st-ok');
    });
  });
})();
