// nines dashboard: live updates over server-sent events, the tree's
// expand/collapse-all buttons, and the forms that act through the JSON API.
// The server renders every label it sends; this script only swaps them in.
// Pages read without it (reload to refresh); acting needs it.
(function () {
  'use strict';

  // ---- forms: <form class="api" data-method data-path [data-next]
  // [data-confirm] [data-result]>. Fields named after the API's JSON keys
  // ("a.b" nests); data-type says how a value is sent: number, bool
  // (checkbox), lines (one per line), csv, json, int-list; data-empty="omit"
  // (default) or "null". The API's own validation answers; an error naming
  // a field is shown at that field.
  function fieldValue(el) {
    var t = el.getAttribute('data-type') || 'string';
    if (t === 'bool') { return el.checked; }
    var v = el.value;
    if (v.trim() === '') { return el.getAttribute('data-empty') === 'null' ? null : undefined; }
    switch (t) {
      case 'number': { var n = Number(v); return isNaN(n) ? v : n; }
      case 'lines': return v.split('\n').map(function (x) { return x.trim(); }).filter(Boolean);
      case 'csv': return v.split(',').map(function (x) { return x.trim(); }).filter(Boolean);
      case 'int-list': return v.split(',').map(function (x) { return x.trim(); }).filter(Boolean).map(function (x) { var n = Number(x); return isNaN(n) ? x : n; });
      case 'json': try { return JSON.parse(v); } catch (e) { return { __invalid: e.message }; }
      default: return v;
    }
  }

  function setPath(obj, path, value) {
    var parts = path.split('.');
    var o = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof o[parts[i]] !== 'object' || o[parts[i]] === null) { o[parts[i]] = {}; }
      o = o[parts[i]];
    }
    o[parts[parts.length - 1]] = value;
  }

  function clearErrors(form) {
    form.querySelectorAll('[aria-invalid]').forEach(function (el) { el.removeAttribute('aria-invalid'); });
    form.querySelectorAll('.field-error').forEach(function (el) { el.hidden = true; el.textContent = ''; });
    var fe = form.querySelector('.form-error');
    if (fe) { fe.hidden = true; fe.textContent = ''; }
  }

  function showError(form, field, message) {
    var el = null;
    if (field) {
      form.querySelectorAll('[name]').forEach(function (x) {
        if (!el && (x.name === field || x.getAttribute('data-field') === field || field.indexOf(x.name + '.') === 0 || field.indexOf(x.name + '[') === 0)) { el = x; }
      });
    }
    var box = el && document.getElementById(el.id + '-err');
    if (el && box) {
      el.setAttribute('aria-invalid', 'true');
      box.textContent = message;
      box.hidden = false;
      el.focus();
    } else {
      var fe = form.querySelector('.form-error');
      if (fe) { fe.textContent = message; fe.hidden = false; fe.focus(); }
    }
  }

  function submitApi(form, ev) {
    ev.preventDefault();
    // a second button may send the same fields elsewhere (a preview)
    var by = ev.submitter && ev.submitter.hasAttribute('data-path') ? ev.submitter : form;
    var confirmText = by === form ? form.getAttribute('data-confirm') : null;
    if (confirmText && !window.confirm(confirmText)) { return; }
    clearErrors(form);
    var method = by.getAttribute('data-method') || form.getAttribute('data-method') || 'POST';
    var body = {};
    var invalid = null;
    // a path naming a field's value ({name}): that field goes into the path
    var pathFrom = form.getAttribute('data-path-from');
    var path = by.getAttribute('data-path');
    if (pathFrom) {
      var pf = form.querySelector('[name="' + pathFrom + '"]');
      path = path.replace('{' + pathFrom + '}', encodeURIComponent(pf ? pf.value.trim() : ''));
    }
    form.querySelectorAll('[name]').forEach(function (el) {
      if (el.disabled || el.type === 'submit' || el.name === pathFrom) { return; }
      // a number field holding text reads as empty: say so, do not clear it
      if (el.validity && el.validity.badInput) { invalid = invalid || [el.name, 'not a number']; return; }
      var v = fieldValue(el);
      if (v && typeof v === 'object' && v.__invalid) { invalid = invalid || [el.name, 'not valid JSON: ' + v.__invalid]; return; }
      if (v !== undefined) { setPath(body, el.name, v); }
    });
    if (invalid) { showError(form, invalid[0], invalid[1]); return; }
    var opts = { method: method, credentials: 'same-origin', headers: { 'X-Nines-Session': '1', 'Accept': 'application/json' } };
    // a form whose body is one field's text as it is (an it-ops document)
    var raw = form.getAttribute('data-raw');
    if (raw) {
      var rawEl = form.querySelector('[name="' + raw + '"]');
      opts.headers['Content-Type'] = form.getAttribute('data-raw-type') || 'text/plain';
      opts.body = rawEl ? rawEl.value : '';
    } else if (method !== 'GET' && method !== 'DELETE') {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    var btn = by === form ? form.querySelector('button[type=submit]') : by;
    if (btn) { btn.disabled = true; }
    fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        return { ok: r.ok, status: r.status, data: data, text: t };
      });
    }).then(function (res) {
      if (btn) { btn.disabled = false; }
      if (!res.ok) {
        var e = (res.data && res.data.error) || {};
        showError(form, e.field, (e.field ? e.field + ': ' : '') + (e.message || ('HTTP ' + res.status)));
        return;
      }
      var out = by.getAttribute('data-result');
      if (out) {
        var box = document.getElementById(out);
        if (box) {
          var pick = by.getAttribute('data-result-key');
          var shown = pick && res.data ? res.data[pick] : res.data;
          box.textContent = typeof shown === 'string' ? shown : JSON.stringify(shown, null, 2);
          box.hidden = false;
          box.focus();
        }
        return;
      }
      var next = form.getAttribute('data-next') || 'reload';
      if (next === 'reload') { window.location.reload(); return; }
      var id = res.data ? (res.data.id !== undefined ? res.data.id : (res.data.items && res.data.items[0] ? res.data.items[0].id : undefined)) : undefined;
      if (id !== undefined) { next = next.replace('{id}', encodeURIComponent(id)); }
      window.location.assign(next);
    }).catch(function (err) {
      if (btn) { btn.disabled = false; }
      showError(form, null, 'nines did not answer: ' + err);
    });
  }

  document.addEventListener('submit', function (ev) {
    var f = ev.target;
    if (f && f.classList && f.classList.contains('api')) { submitApi(f, ev); }
  });

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
