/*
 * The run report's page: draws the model embedded in #report-data (built by src/reporters/html/model.ts).
 * Every text from the run (names, commands, output) goes into the page through textContent or an
 * attribute, never as markup, so nothing a step printed can run here.
 * dagre (inlined before this script) lays the graph out; the timeline is drawn by hand.
 */
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  /** Above this many nodes the graph shows groups (a map's items, then modules) until expanded. */
  const LIMIT = 300;
  const STATUS_ORDER = ["failed", "cancelled", "blocked", "running", "not run", "ok", "cached"];

  let data;
  try {
    data = JSON.parse(document.getElementById("report-data").textContent);
  } catch (err) {
    fatal("the report's data could not be read: " + err.message);
    return;
  }
  // The wire form (render.ts wireOf): attempts as tuples, cache reasons as indexes into texts.
  data.bars = data.bars.map((b) => ({
    step: b[0],
    slot: b[1],
    start: b[2],
    end: b[3],
    attempt: b[4],
    outcome: b[5],
  }));
  for (const st of data.steps) {
    if (st.cache && typeof st.cache.reason === "number") st.cache.reason = data.texts[st.cache.reason];
  }
  const steps = data.steps;
  const byId = new Map(steps.map((s, i) => [s.id, i]));
  const critical = new Set(data.totals.criticalPath);
  const dependents = steps.map(() => []);
  steps.forEach((s, i) => {
    for (const d of s.deps) {
      const j = byId.get(d);
      if (j !== undefined) dependents[j].push(i);
    }
  });
  const barsOf = steps.map(() => []);
  data.bars.forEach((b, k) => barsOf[b.step].push(k));
  let selected = -1;

  function h(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) if (attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function s(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    if (attrs) for (const k in attrs) if (attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(ms) {
    if (ms === undefined || ms === null) return "–";
    if (ms === 0) return "0 ms";
    if (ms < 1) return ms.toFixed(2) + " ms";
    if (ms < 1000) return Math.round(ms) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    const m = Math.floor(ms / 60000);
    const sec = Math.round((ms % 60000) / 1000);
    return m + " min " + sec + " s";
  }
  function pct(x) {
    return x === undefined ? "–" : (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%";
  }
  function plural(n, word) {
    return n.toLocaleString("en") + " " + word + (n === 1 ? "" : "s");
  }
  function fatal(message) {
    const p = h("p", { class: "banner error", id: "render-error" }, message);
    document.body.prepend(p);
    document.documentElement.setAttribute("data-render-error", message);
  }

  // ---- header and totals ----
  function header() {
    const t = data.totals;
    const head = h("header");
    const state = !data.complete ? "incomplete" : data.ok ? "ok" : "failed";
    const title = h("h1");
    title.append(h("span", { class: "badge " + state, id: "run-state" }, state));
    title.append(" Tributary run " + (data.runId || ""));
    head.append(title);
    const meta = [];
    if (data.flow) meta.push("flow " + data.flow);
    if (data.startedAt) meta.push("started " + data.startedAt);
    if (data.concurrency) meta.push("-j " + data.concurrency);
    head.append(h("p", { class: "meta" }, meta.join(" · ")));
    if (!data.complete || data.problems.length > 0) {
      const banner = h("div", { class: "banner incomplete", id: "incomplete" });
      banner.append(h("strong", {}, data.complete ? "Note: " : "Incomplete record: "));
      banner.append(data.problems.join("; ") || "the record is incomplete");
      head.append(banner);
    }
    const cards = h("dl", { class: "totals", id: "totals" });
    const card = (key, label, value, note) => {
      const c = h("div", { class: "card", "data-total": key });
      c.append(h("dt", {}, label), h("dd", {}, value));
      if (note) c.append(h("dd", { class: "note" }, note));
      cards.append(c);
    };
    card("steps", "steps", t.total.toLocaleString("en"));
    card("ok", "ran ok", String(t.ok));
    card("cached", "cached", String(t.cached));
    card("failed", "failed", String(t.failed));
    card("blocked", "blocked", String(t.blocked));
    if (t.cancelled) card("cancelled", "cancelled", String(t.cancelled));
    if (t.unfinished) card("unfinished", "unfinished", String(t.unfinished));
    card("wall", "wall time", fmt(t.wallMs));
    card("work", "sum of work", fmt(t.workMs), "every attempt");
    card("parallelism", "parallelism", t.parallelism.toFixed(2) + "×", "work / wall");
    card(
      "hit-rate",
      "cache hit rate",
      pct(t.cacheHitRate),
      t.cacheHits + t.cacheMisses > 0 ? t.cacheHits + " hits, " + t.cacheMisses + " misses" : undefined,
    );
    if (t.criticalPathMs !== undefined) {
      card("critical", "critical path", fmt(t.criticalPathMs), plural(t.criticalPath.length, "step"));
    }
    head.append(cards);
    if (data.warnings.length > 0) {
      const w = h("details", { class: "warnings" });
      w.append(h("summary", {}, plural(data.warnings.length, "warning")));
      for (const m of data.warnings) w.append(h("p", {}, m));
      head.append(w);
    }
    return head;
  }

  // ---- graph ----
  const groupOf = new Array(steps.length).fill(null);
  const groupMembers = new Map();
  const expanded = new Set();
  function planGroups() {
    if (steps.length <= LIMIT) return;
    const add = (i, key) => {
      groupOf[i] = key;
      if (!groupMembers.has(key)) groupMembers.set(key, []);
      groupMembers.get(key).push(i);
    };
    steps.forEach((st, i) => {
      if (st.parent !== undefined) add(i, "items of " + st.parent);
    });
    if (groupMembers.size + groupOf.filter((g) => g === null).length <= LIMIT) return;
    steps.forEach((st, i) => {
      if (groupOf[i] === null) add(i, "module " + st.module);
    });
  }
  function nodeKey(i) {
    const g = groupOf[i];
    return g !== null && !expanded.has(g) ? "g:" + g : "s:" + i;
  }
  function worst(counts) {
    for (const st of STATUS_ORDER) if (counts[st]) return st;
    return "ok";
  }
  function countsOf(members) {
    const c = {};
    for (const i of members) c[steps[i].status] = (c[steps[i].status] || 0) + 1;
    return c;
  }
  function shorten(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  const graphBox = h("div", { class: "scroll graph-scroll" });
  const graphNote = h("p", { class: "note", id: "graph-note" });
  function drawGraph() {
    const g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir: "LR", nodesep: 10, ranksep: 36, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    const nodes = new Map();
    steps.forEach((st, i) => {
      const key = nodeKey(i);
      if (nodes.has(key)) return;
      if (key.startsWith("s:")) {
        const line2 =
          st.status +
          (st.status === "cached" ? "" : st.durationMs !== undefined ? " · " + fmt(st.durationMs) : "");
        nodes.set(key, { kind: "step", i, status: st.status, line1: st.id, line2, title: st.id });
      } else {
        const name = groupOf[i];
        const members = groupMembers.get(name);
        const counts = countsOf(members);
        const line2 = STATUS_ORDER.filter((x) => counts[x])
          .map((x) => counts[x] + " " + x)
          .join(" · ");
        nodes.set(key, {
          kind: "group",
          group: name,
          status: worst(counts),
          line1: "▸ " + name + " (" + members.length.toLocaleString("en") + ")",
          line2,
          title: name + ": click to expand",
        });
      }
    });
    for (const [key, n] of nodes) {
      const w = Math.min(240, Math.max(90, 7 * Math.max(shorten(n.line1, 32).length, n.line2.length) + 16));
      g.setNode(key, { width: w, height: 36 });
    }
    const edges = new Set();
    steps.forEach((st, i) => {
      const to = nodeKey(i);
      const from = st.deps.map((d) => byId.get(d)).filter((j) => j !== undefined);
      // A map collects its items: each item leads into it.
      if (st.parent !== undefined && byId.has(st.parent)) {
        const p = nodeKey(byId.get(st.parent));
        if (p !== to) edges.add(to + "\u0000" + p);
      }
      for (const j of from) {
        const f = nodeKey(j);
        if (f !== to) edges.add(f + "\u0000" + to);
      }
    });
    for (const e of edges) {
      const [a, b] = e.split("\u0000");
      g.setEdge(a, b);
    }
    dagre.layout(g);
    const gg = g.graph();
    const svg = s("svg", {
      id: "graph",
      width: Math.ceil(gg.width),
      height: Math.ceil(gg.height),
      viewBox: "0 0 " + Math.ceil(gg.width) + " " + Math.ceil(gg.height),
    });
    const defs = s("defs");
    const marker = s("marker", {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: 10,
      refY: 5,
      markerWidth: 6,
      markerHeight: 6,
      orient: "auto-start-reverse",
    });
    marker.append(s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }));
    defs.append(marker);
    svg.append(defs);
    const edgeLayer = s("g", { class: "edges" });
    for (const e of g.edges()) {
      const pts = g.edge(e).points;
      const d = pts.map((p, k) => (k === 0 ? "M" : "L") + p.x.toFixed(1) + " " + p.y.toFixed(1)).join(" ");
      const fromStatus = nodes.get(e.v).status;
      edgeLayer.append(
        s("path", {
          d,
          class: "edge" + (fromStatus === "failed" || fromStatus === "cancelled" ? " broken" : ""),
          "marker-end": "url(#arrow)",
        }),
      );
    }
    svg.append(edgeLayer);
    const nodeLayer = s("g", { class: "nodes" });
    for (const [key, n] of nodes) {
      const p = g.node(key);
      const attrs = {
        class:
          "node " +
          n.kind +
          " status-" +
          n.status.replace(" ", "-") +
          (n.kind === "step" && critical.has(steps[n.i].id) ? " critical" : "") +
          (n.kind === "step" && n.i === selected ? " selected" : ""),
        transform:
          "translate(" + (p.x - p.width / 2).toFixed(1) + "," + (p.y - p.height / 2).toFixed(1) + ")",
        "data-status": n.status,
        tabindex: "0",
      };
      if (n.kind === "step") {
        attrs["data-id"] = steps[n.i].id;
        attrs["data-index"] = n.i;
      } else {
        attrs["data-group"] = n.group;
      }
      const node = s("g", attrs);
      node.append(s("title", {}, n.title));
      node.append(s("rect", { width: p.width, height: p.height, rx: 5 }));
      const chars = Math.floor((p.width - 12) / 6.6);
      node.append(s("text", { x: 7, y: 15, class: "label" }, shorten(n.line1, chars)));
      node.append(s("text", { x: 7, y: 29, class: "sub" }, shorten(n.line2, chars)));
      if (n.status === "cached") node.append(s("text", { x: p.width - 6, y: 15, class: "tag" }, "↺"));
      nodeLayer.append(node);
    }
    svg.append(nodeLayer);
    graphBox.replaceChildren(svg);
    const groups = [...nodes.values()].filter((n) => n.kind === "group").length;
    graphNote.textContent =
      groups > 0
        ? plural(steps.length, "step") +
          " drawn as " +
          plural(nodes.size, "node") +
          ": " +
          plural(groups, "group") +
          " (the items of a map, or a module's steps) are collapsed; click one to expand it."
        : plural(steps.length, "step") + "; click one for its details.";
  }
  graphBox.addEventListener("click", (ev) => {
    const node = ev.target.closest(".node");
    if (!node) return;
    if (node.dataset.group !== undefined) showGroup(node.dataset.group);
    else select(Number(node.dataset.index));
  });
  graphBox.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.classList && ev.target.classList.contains("node"))
      ev.target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  });

  function expand(name) {
    expanded.add(name);
    drawGraph();
  }
  function collapse(name) {
    expanded.delete(name);
    drawGraph();
  }
  function visibleNodeCount() {
    const keys = new Set();
    for (let i = 0; i < steps.length; i++) keys.add(nodeKey(i));
    return keys.size;
  }

  // ---- timeline (Gantt by slot) ----
  const ganttBox = h("div", { class: "scroll gantt-scroll" });
  const ganttNote = h("p", { class: "note", id: "gantt-note" });
  let zoom = 1;
  function drawGantt() {
    const LANE = 18;
    const LEFT = 56;
    const TOP = 22;
    const wall = Math.max(
      1,
      data.totals.wallMs,
      data.bars.reduce((m, b) => Math.max(m, b.end), 0),
    );
    const width = Math.max(600, (ganttBox.clientWidth || 900) - 24) * zoom;
    const scale = (width - LEFT - 10) / wall;
    const height = TOP + Math.max(1, data.slots) * LANE + 6;
    const svg = s("svg", { id: "gantt", width, height });
    const axis = s("g", { class: "axis" });
    const step = niceStep(wall / Math.max(2, Math.floor(width / 110)));
    for (let t = 0; t <= wall + 1e-9; t += step) {
      const x = LEFT + t * scale;
      axis.append(s("line", { x1: x, x2: x, y1: TOP - 4, y2: height, class: "tick" }));
      axis.append(s("text", { x: x + 2, y: 12 }, fmt(t)));
    }
    for (let k = 0; k < data.slots; k++) {
      axis.append(s("text", { x: 4, y: TOP + k * LANE + 13, class: "lane" }, "slot " + (k + 1)));
    }
    svg.append(axis);
    const layer = s("g", { class: "bars" });
    data.bars.forEach((b, k) => {
      const st = steps[b.step];
      const rect = s("rect", {
        x: (LEFT + b.start * scale).toFixed(2),
        y: TOP + b.slot * LANE + 2,
        width: Math.max(1, (b.end - b.start) * scale).toFixed(2),
        height: LANE - 4,
        class:
          "bar outcome-" +
          b.outcome +
          (critical.has(st.id) ? " critical" : "") +
          (b.step === selected ? " selected" : ""),
        "data-id": st.id,
        "data-index": b.step,
        "data-bar": k,
        "data-outcome": b.outcome,
      });
      rect.append(
        s("title", {}, st.id + " · attempt " + b.attempt + " · " + b.outcome + " · " + fmt(b.end - b.start)),
      );
      layer.append(rect);
    });
    svg.append(layer);
    ganttBox.replaceChildren(svg);
    const notShown = data.totals.cached;
    ganttNote.textContent =
      plural(data.bars.length, "attempt") +
      " on " +
      plural(data.slots, "slot") +
      (notShown ? "; " + notShown + " cached steps were restored without running (not drawn)" : "") +
      ". Outlined: the critical path.";
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  ganttBox.addEventListener("click", (ev) => {
    const bar = ev.target.closest(".bar");
    if (bar) select(Number(bar.dataset.index));
  });

  // ---- details ----
  const detail = h("aside", { id: "detail" });
  detail.append(h("p", { class: "note" }, "Click a step in the graph or the timeline for its details."));

  function link(i) {
    const b = h("button", { class: "link", type: "button", "data-goto": i }, steps[i].id);
    return b;
  }
  detail.addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.goto !== undefined) select(Number(b.dataset.goto));
    else if (b.dataset.expand !== undefined) expand(b.dataset.expand);
    else if (b.dataset.collapse !== undefined) collapse(b.dataset.collapse);
  });

  function select(i) {
    selected = i;
    for (const e of document.querySelectorAll(".selected")) e.classList.remove("selected");
    for (const e of document.querySelectorAll('[data-index="' + i + '"]')) e.classList.add("selected");
    showStep(i);
  }

  function showStep(i) {
    const st = steps[i];
    const out = [];
    out.push(h("h2", { "data-field": "id" }, st.id));
    const dl = h("dl", { class: "fields" });
    const row = (key, label, value) => {
      if (value === undefined || value === null || value === "") return;
      const dd = h("dd", { "data-field": key });
      if (value instanceof Node) dd.append(value);
      else dd.textContent = String(value);
      dl.append(h("dt", {}, label), dd);
    };
    const badge = h("span", { class: "badge " + st.status.replace(" ", "-") }, st.status);
    row("status", "status", badge);
    row("module", "module", st.module);
    if (st.command) row("command", "command", h("code", {}, st.command));
    if (st.parent !== undefined) {
      const j = byId.get(st.parent);
      row("parent", "item of map", j === undefined ? st.parent : link(j));
    }
    const list = (ids) => {
      const span = h("span", { class: "list" });
      ids.forEach((j) => span.append(link(j)));
      return span;
    };
    const inputs = st.deps.map((d) => byId.get(d)).filter((j) => j !== undefined);
    row("inputs", "inputs (steps it reads)", inputs.length ? list(inputs.slice(0, 200)) : "none");
    if (dependents[i].length) row("dependents", "used by", list(dependents[i].slice(0, 200)));
    row("duration", "duration", st.durationMs !== undefined ? fmt(st.durationMs) : undefined);
    if (st.startMs !== undefined && st.status !== "cached") {
      row("when", "ran", fmt(st.startMs) + " → " + fmt(st.endMs) + " after the run started");
    }
    row("attempts", "attempts", String(st.attempts));
    row("queued", "queue wait", st.queuedMs !== undefined ? fmt(st.queuedMs) : undefined);
    if (st.cache) {
      const c = st.cache;
      row(
        "cache",
        "cache",
        c.decision + (c.source ? " (" + c.source + ")" : "") + (c.reason ? ": " + c.reason : ""),
      );
    } else if (st.status === "cached") {
      row("cache", "cache", "hit");
    }
    row("error", "error", st.error);
    if (st.blockedBy !== undefined) {
      const j = byId.get(st.blockedBy);
      row("blocked-by", "blocked by", j === undefined ? st.blockedBy : link(j));
    }
    if (st.retries) row("retries", "earlier attempts", st.retries.join("\n"));
    if (critical.has(st.id)) row("critical", "critical path", "on the critical path");
    out.push(dl);
    const pre = (key, label, text) => {
      if (!text) return;
      out.push(h("h3", {}, label));
      out.push(h("pre", { "data-field": key }, text));
    };
    if (st.outputCut)
      out.push(
        h("p", { class: "note" }, st.outputCut.toLocaleString("en") + " earlier bytes of output not shown"),
      );
    if (!st.stderr && !st.stdout && !st.output && data.liveOutput === false && st.attempts > 0) {
      out.push(
        h(
          "p",
          { class: "note", "data-field": "no-output" },
          "This run did not record its steps' output (only a failure's last lines are kept): " +
            "`tributary run --report` or `--record-output` records it.",
        ),
      );
    }
    pre("stderr", "stderr (tail)", st.stderr);
    pre("stdout", "stdout (tail)", st.stdout);
    pre("output", "output (tail)", st.output);
    detail.replaceChildren(...out);
  }

  function showGroup(name) {
    const members = groupMembers.get(name) || [];
    const counts = countsOf(members);
    const out = [h("h2", { "data-field": "group" }, name)];
    out.push(
      h(
        "p",
        { "data-field": "counts" },
        plural(members.length, "step") +
          ": " +
          STATUS_ORDER.filter((x) => counts[x])
            .map((x) => counts[x] + " " + x)
            .join(", "),
      ),
    );
    if (expanded.has(name)) {
      out.push(h("button", { type: "button", "data-collapse": name }, "Collapse in the graph"));
    } else if (visibleNodeCount() - 1 + members.length <= LIMIT * 2) {
      out.push(h("button", { type: "button", "data-expand": name }, "Expand in the graph"));
    } else {
      out.push(h("p", { class: "note" }, "Too many steps to draw at once; they are listed here instead."));
    }
    const sorted = members
      .slice()
      .sort((a, b) => STATUS_ORDER.indexOf(steps[a].status) - STATUS_ORDER.indexOf(steps[b].status) || a - b);
    const ul = h("ul", { class: "members" });
    for (const i of sorted.slice(0, 500)) {
      const li = h("li");
      li.append(link(i), " " + steps[i].status);
      ul.append(li);
    }
    out.push(ul);
    if (sorted.length > 500) out.push(h("p", { class: "note" }, "… and " + (sorted.length - 500) + " more"));
    detail.replaceChildren(...out);
  }

  // ---- failures ----
  function failures() {
    const failed = [];
    steps.forEach((st, i) => {
      if (st.status === "failed" || st.status === "cancelled") failed.push(i);
    });
    const sec = h("section", { id: "failures" });
    sec.append(h("h2", {}, failed.length ? "Failures" : "No failures"));
    if (!failed.length) return sec;
    const ul = h("ul");
    for (const i of failed.slice(0, 200)) {
      const li = h("li");
      const blocked = dependents[i].filter((j) => steps[j].status === "blocked").length;
      li.append(
        link(i),
        " " +
          (steps[i].error || steps[i].status) +
          (blocked ? " — blocked " + plural(blocked, "dependent") : ""),
      );
      ul.append(li);
    }
    sec.append(ul);
    sec.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (b && b.dataset.goto !== undefined) select(Number(b.dataset.goto));
    });
    return sec;
  }

  function legend() {
    const p = h("p", { class: "legend" });
    for (const st of ["ok", "cached", "failed", "blocked", "cancelled", "running", "not run"]) {
      p.append(h("span", { class: "swatch status-" + st.replace(" ", "-") }, st));
    }
    p.append(h("span", { class: "swatch critical" }, "critical path"));
    return p;
  }

  try {
    planGroups();
    const main = h("main");
    const views = h("div", { class: "views" });
    const gsec = h("section", { id: "graph-view" });
    gsec.append(h("h2", {}, "Graph"), legend(), graphNote, graphBox);
    const tsec = h("section", { id: "gantt-view" });
    const zoomSel = h("select", { id: "zoom", "aria-label": "timeline zoom" });
    for (const z of [1, 2, 5, 10, 25, 50]) zoomSel.append(h("option", { value: z }, z + "×"));
    zoomSel.addEventListener("change", () => {
      zoom = Number(zoomSel.value);
      drawGantt();
    });
    const th = h("h2", {}, "Timeline by slot ");
    th.append(zoomSel);
    tsec.append(th, ganttNote, ganttBox);
    views.append(gsec, tsec, failures());
    main.append(views, detail);
    document.body.append(header(), main);
    drawGraph();
    drawGantt();
    // The timeline fills its box: draw it again when the box's width changes (the layout settling,
    // a resized window), at most once a frame.
    let drawnWidth = ganttBox.clientWidth;
    let queued = false;
    new ResizeObserver(() => {
      if (queued || ganttBox.clientWidth === drawnWidth) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        drawnWidth = ganttBox.clientWidth;
        drawGantt();
      });
    }).observe(ganttBox);
    const failedFirst = steps.findIndex((st) => st.status === "failed");
    if (failedFirst >= 0) select(failedFirst);
    document.documentElement.setAttribute("data-rendered", performance.now().toFixed(0));
  } catch (err) {
    fatal("the report could not be drawn: " + (err && err.message));
  }
})();
