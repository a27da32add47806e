/*
 * report_html.js -- the viewer of `pymm report FILE --format html`: draws,
 * from the JSON that report_html.c embeds in the page (#pymm-data;
 * docs/FORMATS.md, "The HTML page"), a summary, a timeline of the live
 * bytes (with the RSS and the collector's pauses), a flame graph (or icicle), a sortable table of allocation
 * sites and the leak verdicts of `--leaks`. Compiled into pymm by embed.cmake; it fetches nothing.
 *
 * Owns every view's state: the measure shown, the time range, the zoomed
 * frame, the search, the table's order. The data holds the S stacks kept
 * (each an index into nodes, a tree of frames whose parents come first)
 * and "other", with their bytes and counts in four measures; and cells,
 * each a time bucket and a stack's column with what it allocated, freed
 * and freed as temporary then. A time range re-sums the cells into the
 * same eight figures per column (live at the range's end, grown over it,
 * allocated and temporary in it), so the flame graph and the table draw
 * from one shape whatever is selected.
 *
 * Every text of the data (frame names, files, labels) goes in through
 * textContent, never as markup. The body's data-frames, data-rows,
 * data-pauses (collections marked), data-rss (timeline steps with an RSS),
 * data-leaks (verdicts listed) and data-error attributes say what was drawn, for headless tests.
 */
(function () {
  'use strict';
  window.addEventListener('error', function (e) {
    document.body.setAttribute('data-error', String(e.message));
  });
  var D = JSON.parse(document.getElementById('pymm-data').textContent);
  var S = D.summary, caps = D.caps;
  var OTHER = D.stacks.length; /* the column of "other" */
  var WHOLE = ['live at the peak', 'live at the exit', 'allocated in all', 'temporary'];
  var RANGED = ['live at the range\u2019s end', 'grown over the range', 'allocated in the range',
    'temporary in the range'];
  var DOMAINS = ['raw', 'mem', 'obj', 'pm_heap'];
  var state = {view: 0, range: null, zoom: 0, search: '', icicle: false, group: 'leaf',
    sort: 2, up: false};
  state.view = Math.max(0, ['peak', 'exit', 'allocated', 'temporary'].indexOf(D.measure));

  /* ---- helpers ----------------------------------------------------------- */

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }
  function human(b) {
    if (b < 10240) return b + ' B';
    if (b < 10485760) return (b / 1024).toFixed(1) + ' KiB';
    if (b < 10737418240) return (b / 1048576).toFixed(1) + ' MiB';
    return (b / 1073741824).toFixed(2) + ' GiB';
  }
  function secs(ms) { return (ms / 1000).toFixed(3) + ' s'; }
  function pct(a, b) { return b ? (100 * a / b).toFixed(1) + '%' : '-'; }
  function frameText(f) { return f[1] ? f[0] + '  ' + f[1] + ':' + f[2] : f[0]; }
  function nodeFrame(n) { return D.nodes[n][1] >= 0 ? D.frames[D.nodes[n][1]] : null; }

  /* ---- the figures shown: whole run, or a time range --------------------- */

  /* Eight figures per column (bytes and count of the four measures), and
   * their totals. */
  function figures() {
    if (!state.range) return D.stacks.map(function (s) { return s.slice(1); }).concat([D.other]);
    var a = state.range[0], b = state.range[1], out = [];
    for (var i = 0; i <= OTHER; i++) out.push([0, 0, 0, 0, 0, 0, 0, 0]);
    D.cells.forEach(function (c) {
      if (c[0] > b) return;
      var f = out[c[1]], netB = c[2] - c[4], netN = c[3] - c[5];
      f[0] += netB; f[1] += netN; /* live at the end: every bucket up to it */
      if (c[0] < a) return;
      f[2] += netB; f[3] += netN;
      f[4] += c[2]; f[5] += c[3]; f[6] += c[6]; f[7] += c[7];
    });
    out.forEach(function (f) { if (f[2] < 0) f[2] = 0; if (f[3] < 0) f[3] = 0; });
    return out;
  }
  function titles() { return state.range ? RANGED : WHOLE; }

  /* ---- summary ----------------------------------------------------------- */

  function summary(root) {
    root.appendChild(el('h1', {}, 'pymm report \u2014 ' + (D.program || S.file)));
    var facts = el('div', {'class': 'facts'});
    function fact(name, value, warn) {
      var d = el('div', warn ? {'class': 'warn'} : {});
      d.appendChild(el('span', {}, name));
      d.appendChild(document.createTextNode(value));
      facts.appendChild(d);
    }
    fact('capture', S.file);
    if (S.pid !== null) fact('process', String(S.pid));
    fact('duration', secs(S.duration_ms) + ', ' + S.threads + ' thread' + (S.threads === 1 ? '' : 's'));
    fact('allocations', S.allocations + ' (' + human(S.allocated_bytes) + ')');
    fact('frees', String(S.frees));
    fact('peak', human(S.peak_bytes) + ' at ' + secs(S.peak_ms));
    fact('live at exit', human(S.live_bytes_at_end) + ' in ' + S.live_blocks_at_end + ' blocks');
    fact('temporary', S.sample_bytes ? 'not measured (sampled)' :
      S.temporary_allocations + ' (' + human(S.temporary_bytes) + ')');
    if (S.sample_bytes) fact('sampled', 'one per ' + S.sample_bytes + ' B: estimates', true);
    if (S.dropped) fact('dropped', S.dropped + ' allocations not recorded', true);
    if (S.rss_samples) fact('RSS', 'peak ' + human(S.rss_peak_bytes) + ' at ' + secs(S.rss_peak_ms) +
      ', ' + human(S.rss_bytes_at_end) + ' at the end');
    if (D.collections_total) {
      var paused = 0;
      D.collections.forEach(function (k) { paused += k[2]; });
      fact('collector', D.collections_total + ' collections' +
        (D.collections.length < D.collections_total ? '' : ', paused ' + (paused / 1000).toFixed(3) + ' ms'));
    }
    if (!S.complete) fact('incomplete', 'no end record: the run did not stop tracing', true);
    root.appendChild(facts);
    root.appendChild(el('div', {'class': 'caps'},
      'This page keeps the ' + caps.stacks_kept + ' of ' + caps.stacks + ' stacks that matter most' +
      ' (--max-stacks ' + caps.max_stacks + '; the rest as \u201cother\u201d) and ' + caps.buckets +
      ' time buckets of ' + caps.bucket_ms + ' ms (--buckets ' + caps.max_buckets + ')' +
      (caps.reduced ? ', lowered to stay under 10 MB' : '') + '.'));
  }

  /* ---- timeline ---------------------------------------------------------- */

  var tl = {svg: null, sel: null, x0: 40, w: 0, end: 1};

  function timeline(root) {
    var bar = el('div', {'class': 'bar'});
    var label = el('span', {'id': 'range'});
    var whole = el('button', {}, 'whole run');
    whole.onclick = function () { setRange(null); };
    bar.appendChild(el('b', {}, 'Live bytes over time'));
    var legend = el('span', {'class': 'legend'});
    DOMAINS.forEach(function (d) {
      legend.appendChild(svg('svg', {width: 10, height: 10})).appendChild(
        svg('rect', {width: 10, height: 10, 'class': 'd-' + d}));
      legend.appendChild(document.createTextNode(' ' + d + ' '));
    });
    if (S.rss_samples) {
      legend.appendChild(svg('svg', {width: 14, height: 10})).appendChild(
        svg('line', {x1: 0, y1: 5, x2: 14, y2: 5, 'class': 'rss'}));
      legend.appendChild(document.createTextNode(' RSS '));
    }
    if (D.collections.length) {
      legend.appendChild(svg('svg', {width: 6, height: 10})).appendChild(
        svg('rect', {width: 6, height: 10, 'class': 'gc'}));
      legend.appendChild(document.createTextNode(' collector pauses '));
    }
    bar.appendChild(legend);
    bar.appendChild(whole);
    bar.appendChild(label);
    root.appendChild(bar);
    root.appendChild(el('div', {'class': 'note'},
      'Drag across the plot to choose a time range: the flame graph and the table then show it.'));
    tl.svg = svg('svg', {id: 'timeline'});
    root.appendChild(tl.svg);
    drawTimeline();
    brush();
  }

  function drawTimeline() {
    var g = tl.svg, steps = D.timeline.steps;
    while (g.firstChild) g.removeChild(g.firstChild);
    tl.w = Math.max(100, g.getBoundingClientRect().width || 800) - tl.x0 - 8;
    var h = 130, top = 8, step = D.timeline.step_ms;
    tl.end = Math.max(S.duration_ms + 1, steps.length * step, 1);
    /* One scale for the live bytes and the RSS (both bytes: the gap
     * between them is what the process holds beyond its traced blocks). */
    var most = 1;
    steps.forEach(function (s) { most = Math.max(most, s[1], s[6] || 0); });
    function x(ms) { return tl.x0 + tl.w * ms / tl.end; }
    function y(b) { return top + h - h * b / most; }
    /* Each domain's live bytes at the steps' ends, stacked. */
    var base = steps.map(function () { return 0; });
    DOMAINS.forEach(function (d, k) {
      var up = [], down = [];
      steps.forEach(function (s, i) {
        var lo = base[i], hi = lo + s[2 + k];
        up.push(x(s[0]) + ',' + y(hi), x(s[0] + step) + ',' + y(hi));
        down.unshift(x(s[0] + step) + ',' + y(lo), x(s[0]) + ',' + y(lo));
        base[i] = hi;
      });
      if (up.length) g.appendChild(svg('polygon', {points: up.concat(down).join(' '), 'class': 'd-' + d}));
    });
    /* The most live at any event of each step. */
    var env = [];
    steps.forEach(function (s) { env.push(x(s[0]) + ',' + y(s[1]), x(s[0] + step) + ',' + y(s[1])); });
    if (env.length) g.appendChild(svg('polyline', {points: env.join(' '), 'class': 'envelope'}));
    /* The most RSS in force in each step (0: before the first sample). */
    var rss = [];
    steps.forEach(function (s) {
      if (s[6]) rss.push(x(s[0]) + ',' + y(s[6]), x(s[0] + step) + ',' + y(s[6]));
    });
    if (rss.length) {
      var rl = g.appendChild(svg('polyline', {points: rss.join(' '), 'class': 'rss'}));
      rl.appendChild(svg('title')).textContent = 'RSS, peak ' + human(S.rss_peak_bytes) + ' at ' +
        secs(S.rss_peak_ms);
    }
    g.appendChild(svg('line', {x1: tl.x0, y1: top + h, x2: tl.x0 + tl.w, y2: top + h, 'class': 'axis'}));
    g.appendChild(svg('line', {x1: tl.x0, y1: top, x2: tl.x0, y2: top + h, 'class': 'axis'}));
    var t = g.appendChild(svg('text', {x: 2, y: top + 8}));
    t.textContent = human(most);
    for (var i = 0; i <= 4; i++) {
      var tx = g.appendChild(svg('text', {x: x(tl.end * i / 4) - 25 * Math.min(i, 2), y: top + h + 12}));
      tx.textContent = secs(tl.end * i / 4);
    }
    D.marks.forEach(function (m) {
      var line = g.appendChild(svg('line', {x1: x(m[1]), x2: x(m[1]), y1: top, y2: top + h, 'class': 'mark'}));
      line.appendChild(svg('title')).textContent = 'mark ' + m[0] + ' at ' + secs(m[1]);
      g.appendChild(svg('text', {x: x(m[1]) + 2, y: top + 10})).textContent = m[0];
    });
    /* Sections: a lane per thread (four at most) under the axis. */
    D.spans.forEach(function (s) {
      var lane = Math.min(s[1], 4);
      var r = g.appendChild(svg('rect', {x: x(s[2]), y: top + h + 16 + 6 * (lane - 1),
        width: Math.max(1, x(s[3]) - x(s[2])), height: 4, 'class': 'span'}));
      r.appendChild(svg('title')).textContent = 'section ' + s[0] + ' (thread ' + s[1] + '): ' +
        secs(s[2]) + ' \u2013 ' + secs(s[3]);
    });
    /* The collector's pauses: a mark on the time axis per collection,
     * as wide as its pause (one pixel at least). */
    D.collections.forEach(function (k) {
      var from = Math.max(0, k[1] - k[2] / 1000);
      var r = g.appendChild(svg('rect', {x: x(from), y: top + h - 5, height: 8,
        width: Math.max(1, x(k[1]) - x(from)), 'class': 'gc'}));
      r.appendChild(svg('title')).textContent = 'collection of generation ' + k[0] + ' at ' +
        secs(from) + ': paused ' + (k[2] / 1000).toFixed(3) + ' ms, ' + k[3] + ' unreachable found';
    });
    document.body.setAttribute('data-pauses', String(D.collections.length));
    document.body.setAttribute('data-rss', String(rss.length / 2));
    var peak = g.appendChild(svg('circle', {cx: x(S.peak_ms), cy: y(S.peak_bytes), r: 3, fill: '#c00'}));
    peak.appendChild(svg('title')).textContent = 'peak ' + human(S.peak_bytes) + ' at ' + secs(S.peak_ms);
    tl.sel = g.appendChild(svg('rect', {'class': 'sel', y: top, height: h, x: 0, width: 0,
      visibility: 'hidden'}));
    showRange();
  }

  function bucketOf(ms) {
    return Math.max(0, Math.min(caps.buckets - 1, Math.floor(ms / caps.bucket_ms)));
  }
  function msAt(evt) {
    var r = tl.svg.getBoundingClientRect();
    return Math.max(0, Math.min(tl.end, (evt.clientX - r.left - tl.x0) / tl.w * tl.end));
  }
  function brush() {
    var from = null;
    tl.svg.addEventListener('mousedown', function (e) { from = msAt(e); e.preventDefault(); });
    window.addEventListener('mousemove', function (e) {
      if (from === null) return;
      var to = msAt(e);
      showSpan(Math.min(from, to), Math.max(from, to));
    });
    window.addEventListener('mouseup', function (e) {
      if (from === null) return;
      var to = msAt(e), a = Math.min(from, to), b = Math.max(from, to);
      from = null;
      /* A click, not a drag: back to the whole run. */
      if ((b - a) / tl.end * tl.w < 3) setRange(null);
      else setRange([bucketOf(a), bucketOf(b)]);
    });
  }
  function showSpan(a, b) {
    tl.sel.setAttribute('x', tl.x0 + tl.w * a / tl.end);
    tl.sel.setAttribute('width', Math.max(1, tl.w * (b - a) / tl.end));
    tl.sel.setAttribute('visibility', 'visible');
  }
  function showRange() {
    var label = document.getElementById('range');
    if (!state.range) {
      tl.sel.setAttribute('visibility', 'hidden');
      label.textContent = 'showing the whole run';
      return;
    }
    var a = state.range[0] * caps.bucket_ms, b = (state.range[1] + 1) * caps.bucket_ms;
    showSpan(a, Math.min(b, tl.end));
    label.textContent = 'showing ' + secs(a) + ' \u2013 ' + secs(b) + ' (buckets ' +
      state.range[0] + '\u2013' + state.range[1] + ')';
  }
  function setRange(r) {
    state.range = r;
    state.zoom = 0;
    showRange();
    update();
  }

  /* ---- flame graph ------------------------------------------------------- */

  var fl = {box: null, tip: null, total: [], count: [], kids: [], x: [], depth: [], drawn: 0};

  function flame(root) {
    var bar = el('div', {'class': 'bar', id: 'views'});
    root.appendChild(el('h2', {}, 'Flame graph'));
    root.appendChild(bar);
    var tools = el('div', {'class': 'bar'});
    var search = el('input', {type: 'search', placeholder: 'search frames (function or file)', id: 'search'});
    search.value = state.search;
    search.oninput = function () { state.search = search.value; drawFlame(); };
    var flip = el('button', {id: 'icicle'}, 'icicle');
    flip.onclick = function () { state.icicle = !state.icicle; drawFlame(); };
    var reset = el('button', {}, 'reset zoom');
    reset.onclick = function () { state.zoom = 0; drawFlame(); };
    [search, flip, reset, el('span', {id: 'matched', 'class': 'note'}),
      el('span', {'class': 'legend'}, '')].forEach(function (e) { tools.appendChild(e); });
    var legend = tools.lastChild;
    [['#e8a060', 'native (C) frame'], ['#70b8c8', 'interpreter frame'], ['#ddd', 'other stacks']]
      .forEach(function (l) {
        var sw = legend.appendChild(el('span'));
        sw.style.background = l[0];
        legend.appendChild(document.createTextNode(l[1]));
      });
    root.appendChild(tools);
    fl.box = el('div', {id: 'flame'});
    root.appendChild(fl.box);
    fl.tip = el('div', {id: 'tip'});
    document.body.appendChild(fl.tip);
    fl.box.addEventListener('mousemove', tip);
    fl.box.addEventListener('mouseleave', function () { fl.tip.style.display = 'none'; });
    fl.box.addEventListener('click', function (e) {
      var n = e.target.getAttribute('data-n');
      if (n === null) return;
      state.zoom = +n === state.zoom ? D.nodes[+n][0] : +n; /* a second click zooms out */
      if (state.zoom < 0) state.zoom = 0;
      drawFlame();
    });
  }

  function viewButtons() {
    var bar = document.getElementById('views');
    while (bar.firstChild) bar.removeChild(bar.firstChild);
    titles().forEach(function (t, v) {
      var b = bar.appendChild(el('button', {'class': v === state.view ? 'on' : ''}, t));
      b.onclick = function () { state.view = v; state.zoom = 0; state.sort = 2 * v; update(); };
    });
  }

  /* The tree's totals in the view: node n's own bytes are its stacks',
   * and a parent's come before its children's in D.nodes, so one pass
   * from the end sums them up. "other" is a child of the root, node
   * D.nodes.length. */
  function sums(fig) {
    var n = D.nodes.length + 1, v = state.view;
    fl.total = new Array(n).fill(0);
    fl.count = new Array(n).fill(0);
    fl.kids = [];
    for (var i = 0; i < n; i++) fl.kids.push([]);
    D.stacks.forEach(function (s, c) { fl.total[s[0]] += fig[c][2 * v]; fl.count[s[0]] += fig[c][2 * v + 1]; });
    fl.total[n - 1] = fig[OTHER][2 * v];
    fl.count[n - 1] = fig[OTHER][2 * v + 1];
    for (var k = n - 1; k > 0; k--) {
      var p = k === n - 1 ? 0 : D.nodes[k][0];
      fl.total[p] += fl.total[k];
      fl.count[p] += fl.count[k];
      if (fl.total[k] > 0) fl.kids[p].push(k);
    }
    fl.kids.forEach(function (ks) { ks.sort(function (a, b) { return fl.total[b] - fl.total[a]; }); });
  }

  function parentOf(n) { return n === D.nodes.length ? 0 : D.nodes[n][0]; }
  function label(n) {
    if (n === 0) return 'all (' + titles()[state.view] + ')';
    if (n === D.nodes.length) return 'other stacks';
    return frameText(nodeFrame(n));
  }
  function matches(n) {
    if (!state.search || n === 0 || n === D.nodes.length) return false;
    var f = nodeFrame(n), q = state.search.toLowerCase();
    return f[0].toLowerCase().indexOf(q) >= 0 || f[1].toLowerCase().indexOf(q) >= 0;
  }
  function hue(s, lo, span) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
    return lo + h % span;
  }

  function drawFlame() {
    var box = fl.box, W = box.clientWidth || 800, row = 17;
    while (box.firstChild) box.removeChild(box.firstChild);
    document.getElementById('icicle').className = state.icicle ? 'on' : '';
    var z = state.zoom, scale = fl.total[z] ? W / fl.total[z] : 0;
    var chain = [];
    for (var a = z; ; a = parentOf(a)) { chain.unshift(a); if (a === 0) break; }
    var items = [], depthMax = 0;
    /* The zoomed frame's ancestors span the whole width; below it each
     * frame is as wide as its bytes, and those under a pixel are left out. */
    chain.forEach(function (n, d) { items.push([n, 0, W, d, n !== z]); });
    (function walk(n, x, d) {
      if (d > depthMax) depthMax = d;
      fl.kids[n].forEach(function (k) {
        var w = fl.total[k] * scale;
        if (w >= 1 && items.length < 6000) {
          items.push([k, x, w, d + 1, false]);
          walk(k, x, d + 1);
        }
        x += w;
      });
    })(z, 0, chain.length - 1);
    box.style.height = (depthMax + 1) * row + 'px';
    var frag = document.createDocumentFragment();
    items.forEach(function (it) {
      var n = it[0], f = n && n < D.nodes.length ? nodeFrame(n) : null;
      var cls = 'fr ' + (n === 0 ? 'root' : f ? (f[3] ? 'interp' : 'native') : 'other');
      if (it[4]) cls += ' anc';
      if (state.search) cls += matches(n) ? ' match' : ' dim';
      var e = el('div', {'class': cls, 'data-n': n}, label(n));
      e.style.left = it[1] + 'px';
      e.style.width = it[2] + 'px';
      e.style.top = (state.icicle ? it[3] : depthMax - it[3]) * row + 'px';
      if (f) e.style.background = f[3] ? 'hsl(' + hue(f[0], 175, 45) + ',55%,62%)'
        : 'hsl(' + hue(f[0], 5, 45) + ',80%,64%)';
      frag.appendChild(e);
    });
    box.appendChild(frag);
    fl.drawn = items.length;
    document.body.setAttribute('data-frames', String(items.length));
    var matched = matchedBytes();
    document.getElementById('matched').textContent = state.search ?
      'matched: ' + human(matched) + ' (' + pct(matched, fl.total[0]) + ' of the view)' : '';
    saveHash();
  }

  /* The bytes under matching frames, each counted once: a frame under
   * another match is already in it. Parents come first in D.nodes. */
  function matchedBytes() {
    if (!state.search) return 0;
    var under = [false], sum = 0;
    for (var k = 1; k < D.nodes.length; k++) {
      var m = matches(k);
      if (m && !under[D.nodes[k][0]]) sum += fl.total[k];
      under.push(m || under[D.nodes[k][0]]);
    }
    return sum;
  }

  function tip(e) {
    var n = e.target.getAttribute('data-n');
    if (n === null) { fl.tip.style.display = 'none'; return; }
    n = +n;
    var t = fl.tip, f = n && n < D.nodes.length ? nodeFrame(n) : null;
    while (t.firstChild) t.removeChild(t.firstChild);
    t.appendChild(el('div', {'class': 'fn'}, f ? f[0] : label(n)));
    if (f && f[1]) t.appendChild(el('div', {}, f[1] + ':' + f[2]));
    if (f) t.appendChild(el('div', {}, f[3] ? 'interpreter frame' : 'native frame'));
    t.appendChild(el('div', {}, human(fl.total[n]) + ' in ' + fl.count[n] + ' blocks, ' +
      pct(fl.total[n], fl.total[0]) + ' of ' + titles()[state.view]));
    t.style.display = 'block';
    t.style.left = Math.min(e.clientX + 12, window.innerWidth - 400) + 'px';
    t.style.top = e.clientY + 14 + 'px';
  }

  /* ---- the table of sites ------------------------------------------------ */

  var GROUPS = {leaf: 'innermost frame', script: 'innermost interpreter frame', stack: 'whole stack'};

  function table(root) {
    root.appendChild(el('h2', {}, 'Allocation sites'));
    var bar = root.appendChild(el('div', {'class': 'bar'}));
    bar.appendChild(el('span', {}, 'a site is the stack\u2019s'));
    Object.keys(GROUPS).forEach(function (g) {
      var b = bar.appendChild(el('button', {'data-group': g}, GROUPS[g]));
      b.onclick = function () { state.group = g; drawTable(); };
    });
    bar.appendChild(el('span', {'class': 'note'}, 'click a row to search for its frame'));
    root.appendChild(el('table', {id: 'sites'}));
    root.appendChild(el('div', {'class': 'note', id: 'rows'}));
  }

  /* The site of column c's stack: its innermost frame, its innermost
   * interpreter frame (the script's line), or the whole stack. */
  function siteOf(c) {
    if (c === OTHER) return {key: '', name: 'other stacks', where: '', search: ''};
    var n = D.stacks[c][0], f = nodeFrame(n);
    if (!f) return {key: 'root', name: '[unknown]', where: 'no frame read', search: ''};
    if (state.group === 'script')
      for (var m = n; m > 0; m = D.nodes[m][0])
        if (nodeFrame(m)[3]) { n = m; f = nodeFrame(m); break; }
    var where = f[1] ? f[1] + ':' + f[2] : '';
    if (state.group !== 'stack') return {key: 'n' + D.nodes[n][1], name: f[0], where: where, search: f[0]};
    var callers = [];
    for (var p = D.nodes[n][0]; p > 0 && callers.length < 3; p = D.nodes[p][0]) callers.push(nodeFrame(p)[0]);
    return {key: 's' + c, name: f[0], where: where + (callers.length ? ' \u2190 ' + callers.join(' \u2190 ') : ''),
      search: f[0]};
  }

  function drawTable() {
    var fig = figures(), rows = {}, list = [];
    for (var c = 0; c <= OTHER; c++) {
      var s = siteOf(c), r = rows[s.key];
      if (!r) { r = rows[s.key] = {site: s, f: [0, 0, 0, 0, 0, 0, 0, 0]}; list.push(r); }
      for (var k = 0; k < 8; k++) r.f[k] += fig[c][k];
    }
    list = list.filter(function (r) { return r.f.some(function (v) { return v; }); });
    /* Columns: each measure's bytes, and the allocations' count. */
    var t = titles(), cols = [[t[2], 4], ['allocations', 5], [t[0], 0], [t[1], 2], [t[3], 6]];
    var key = state.sort, up = state.up;
    list.sort(function (a, b) { return up ? a.f[key] - b.f[key] : b.f[key] - a.f[key]; });
    var tab = document.getElementById('sites');
    while (tab.firstChild) tab.removeChild(tab.firstChild);
    var head = tab.appendChild(el('tr'));
    head.appendChild(el('th', {'class': 'site'}, 'site'));
    cols.forEach(function (col) {
      var th = head.appendChild(el('th', {'class': col[1] === key ? 'sorted' + (up ? ' up' : '') : ''}, col[0]));
      th.onclick = function () {
        state.up = state.sort === col[1] ? !state.up : false;
        state.sort = col[1];
        drawTable();
      };
    });
    var shown = list.slice(0, 500);
    shown.forEach(function (r) {
      var tr = tab.appendChild(el('tr'));
      var td = tr.appendChild(el('td', {'class': 'site'}, r.site.name + ' '));
      td.appendChild(el('small', {}, r.site.where));
      cols.forEach(function (col) {
        tr.appendChild(el('td', {}, col[1] === 5 ? String(r.f[5]) : human(r.f[col[1]])));
      });
      tr.onclick = function () {
        state.search = r.site.search;
        document.getElementById('search').value = state.search;
        drawFlame();
      };
    });
    document.querySelectorAll('[data-group]').forEach(function (b) {
      b.className = b.getAttribute('data-group') === state.group ? 'on' : '';
    });
    document.getElementById('rows').textContent = list.length > shown.length ?
      'the first ' + shown.length + ' of ' + list.length + ' sites' : list.length + ' sites';
    document.body.setAttribute('data-rows', String(shown.length));
  }

  /* ---- sections ---------------------------------------------------------- */

  function sections(root) {
    if (!D.sections.length) return;
    root.appendChild(el('h2', {}, 'Sections'));
    var tab = root.appendChild(el('table'));
    var head = tab.appendChild(el('tr'));
    ['section', 'occurrences', 'net change', 'peak above its start'].forEach(function (h) {
      head.appendChild(el('th', {}, h));
    });
    D.sections.forEach(function (s) {
      var tr = tab.appendChild(el('tr'));
      tr.appendChild(el('td', {'class': 'site'}, s[0]));
      tr.appendChild(el('td', {}, String(s[1])));
      tr.appendChild(el('td', {}, (s[2] < 0 ? '-' : '+') + human(Math.abs(s[2]))));
      tr.appendChild(el('td', {}, human(s[3])));
    });
    if (D.spans_total > D.spans.length)
      root.appendChild(el('div', {'class': 'note'}, 'The timeline draws the first ' + D.spans.length +
        ' of ' + D.spans_total + ' occurrences.'));
  }

  /* ---- the leak verdicts of --leaks ---------------------------------------- */

  /* A verdict's neighbourhood edges, one a line: holder, reference, held. */
  function hoodList(d, l, edges, title) {
    if (!edges || !edges.length) return;
    d.appendChild(el('div', {'class': 'note'}, title));
    var ol = d.appendChild(el('ol', {'class': 'hood mono'}));
    edges.forEach(function (e) {
      ol.appendChild(el('li', {}, l.graph.nodes[e[0]] + '  ' + (e[2] || '\u2026') + ' \u2192  ' +
        l.graph.nodes[e[1]]));
    });
  }

  /* Each verdict: its kind, type, count and bytes, its path from the root
   * (one step a line: the reference, then what it reaches), what its leak
   * root refers to and what refers to it (its neighbourhood, when the
   * report has one) and its allocation stack when the report has one. */
  function leaks(root) {
    if (!D.leaks) return;
    root.appendChild(el('h2', {}, 'Leak verdicts'));
    var box = root.appendChild(el('div', {id: 'leaks'}));
    box.appendChild(el('div', {'class': 'note'}, D.leaks_total + ' verdict' +
      (D.leaks_total === 1 ? '' : 's') + ' in ' + D.leaks_file +
      (D.leaks_total > D.leaks.length ? '; the first ' + D.leaks.length + ' listed' : '')));
    D.leaks.forEach(function (l) {
      var unit = l.kind === 'block' ? 'blocks' : l.kind === 'growth' ? 'items' : 'objects';
      var d = box.appendChild(el('div', {'class': 'leak'}));
      var head = d.appendChild(el('div', {'class': 'leak-head'}));
      head.appendChild(el('span', {'class': 'kind k-' + l.kind}, l.kind));
      head.appendChild(el('span', {'class': 'mono type'}, l.type));
      head.appendChild(el('span', {}, l.count + ' ' + unit + ', ' + human(l.bytes)));
      if (l.growth) head.appendChild(el('span', {}, 'grew by ' + l.growth.map(function (g) {
        return (g < 0 ? '' : '+') + g; }).join(' ') + ' at the last checkpoints'));
      var path = d.appendChild(el('ol', {'class': 'path mono'}));
      l.path.forEach(function (step) { path.appendChild(el('li', {}, step)); });
      if (l.graph) {
        hoodList(d, l, l.graph.refs, 'refers to');
        hoodList(d, l, l.graph.backrefs, 'referred to by');
      }
      if (!l.stack.length) return;
      d.appendChild(el('div', {'class': 'note'}, 'allocated at'));
      var stack = d.appendChild(el('ol', {'class': 'stack mono'}));
      l.stack.forEach(function (f) { stack.appendChild(el('li', {}, frameText([f.function, f.file, f.line]))); });
    });
    document.body.setAttribute('data-leaks', String(D.leaks.length));
  }

  /* ---- state in the address: #view=allocated&range=A-B&search=TEXT ------- */

  var NAMES = ['peak', 'exit', 'allocated', 'temporary'];
  function loadHash() {
    (location.hash || '').replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('='), k = i < 0 ? kv : kv.slice(0, i), v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
      if (k === 'view' && NAMES.indexOf(v) >= 0) state.view = NAMES.indexOf(v);
      if (k === 'search') state.search = v;
      if (k === 'icicle') state.icicle = true;
      if (k === 'group' && GROUPS[v]) state.group = v;
      var m = k === 'range' && /^(\d+)-(\d+)$/.exec(v); /* in ms */
      if (m) state.range = [bucketOf(+m[1]), bucketOf(Math.max(+m[1], +m[2]))];
    });
  }
  function saveHash() {
    var h = 'view=' + NAMES[state.view];
    if (state.range) h += '&range=' + state.range[0] * caps.bucket_ms + '-' + state.range[1] * caps.bucket_ms;
    if (state.search) h += '&search=' + encodeURIComponent(state.search);
    if (state.icicle) h += '&icicle';
    if (state.group !== 'leaf') h += '&group=' + state.group;
    try { history.replaceState(null, '', '#' + h); } catch (e) { /* a page without history */ }
  }

  function update() {
    viewButtons();
    sums(figures());
    drawFlame();
    drawTable();
  }

  loadHash();
  state.sort = 2 * state.view; /* the table's order: the bytes of the measure shown */
  var main = el('main');
  document.body.appendChild(main);
  summary(main);
  timeline(main);
  flame(main);
  table(main);
  sections(main);
  leaks(main);
  update();
  window.addEventListener('resize', function () { drawTimeline(); drawFlame(); });
  /* When the page is drawn, on its own clock (`pymm bench trace` reads it). */
  if (window.performance && performance.mark) performance.mark('pymm-rendered');
  document.body.setAttribute('data-ready', '1');
})();
