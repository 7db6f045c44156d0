/* faultline console.
 *
 * Everything shown comes from the API and is rendered with textContent / DOM nodes — never innerHTML — so an entity
 * called "<script>" is shown as text. The graph is drawn by the vendored cytoscape.js (labels are painted on a canvas).
 * Routes: #/ (incidents and insights), #/insights/<id> (one insight, polled while it runs).
 */
(function () {
  "use strict";

  const TOKEN_KEY = "faultline-token";
  const STAGES = ["queued", "starting", "loading data", "reading topology", "reading metrics",
                  "detecting anomalies and ranking causes", "writing the narrative", "done"];
  const POLL_MS = 400;
  const state = { cy: null, insight: null, pollTimer: null, route: null, insightCursor: null, selected: null };
  window.faultlineConsole = state; // a handle for tests and for people poking at the page

  // ---------------------------------------------------------------- DOM helpers (text only, never HTML strings)
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function show(id, visible) { $(id).hidden = !visible; }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:00Z$/, "Z");
  }

  function shortId(id) {
    const text = String(id);
    const m = text.match(/^([^:]+):(.*)$/);
    if (!m) return text;
    let name = m[2].replace(/sha256:([0-9a-f]{12})[0-9a-f]+/g, "sha256:$1");
    if (/^[0-9a-f]{40}$/.test(name)) name = name.slice(0, 12);
    if (name.length > 34) name = name.slice(0, 31) + "…";
    return m[1] + ":" + name;
  }

  // ---------------------------------------------------------------- API access
  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  async function api(path, options) {
    const headers = { "Accept": "application/json", "X-Faultline-Source": "console" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    const init = Object.assign({ headers }, options || {});
    if (init.body && typeof init.body !== "string") {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(init.body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      setConn("cannot reach the faultline server");
      throw new ApiError(0, "cannot reach the faultline server");
    }
    setConn("");
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (response.status === 401) {
      askForToken(body && body.detail);
      throw new ApiError(401, (body && body.detail) || "unauthorised");
    }
    if (!response.ok) throw new ApiError(response.status, (body && body.detail) || ("HTTP " + response.status));
    return body;
  }

  function setConn(text) { $("conn").textContent = text; }

  function askForToken(reason) {
    for (const id of ["home", "insight"]) show(id, false);
    show("auth", true);
    $("auth-error").textContent = sessionStorage.getItem(TOKEN_KEY) ? (reason || "token rejected") : "";
    $("auth-token").focus();
  }

  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("auth-token").value.trim());
    $("auth-token").value = "";
    show("auth", false);
    route();
  });

  // ---------------------------------------------------------------- magic wand
  function wandIcon() {
    const icon = svg("svg", { viewBox: "0 0 24 24", width: 16, height: 16, "aria-hidden": "true", focusable: "false",
                              class: "wand-icon" });
    icon.append(svg("path", { d: "M3.5 20.5 L14 10", stroke: "currentColor", "stroke-width": 2.6, "stroke-linecap": "round" }));
    icon.append(svg("path", { d: "M17 2.5 l1.1 2.6 2.6 1.1 -2.6 1.1 -1.1 2.6 -1.1-2.6 -2.6-1.1 2.6-1.1z", fill: "currentColor" }));
    icon.append(svg("path", { d: "M9 3 l.6 1.4 1.4 .6 -1.4 .6 -.6 1.4 -.6-1.4 -1.4-.6 1.4-.6z", fill: "currentColor" }));
    icon.append(svg("path", { d: "M19.5 13 l.6 1.4 1.4 .6 -1.4 .6 -.6 1.4 -.6-1.4 -1.4-.6 1.4-.6z", fill: "currentColor" }));
    return icon;
  }

  function wandButton(label, request, small) {
    const button = el("button", { type: "button", class: "wand" + (small ? " small" : ""), "aria-label": label,
                                  title: label, "data-wand": "" },
                      wandIcon(), small ? null : "Find the cause");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const created = await api("/v1/insights", { method: "POST", body: request });
        location.hash = "#/insights/" + encodeURIComponent(created.id);
      } catch (err) {
        button.disabled = false;
        if (err.status !== 401) alert("Could not start the insight: " + err.message);
      }
    });
    return button;
  }

  // ---------------------------------------------------------------- home: incidents and insights
  async function renderHome() {
    show("home", true);
    const [incidents, insights] = await Promise.all([api("/v1/incidents?limit=50"), api("/v1/insights?limit=25")]);
    const rows = clear($("incident-rows"));
    for (const inc of incidents.items) {
      const insightCell = el("td", {});
      if (inc.symptom) {
        insightCell.append(wandButton("Run insight for " + inc.symptom, { incident_id: inc.id }));
      } else {
        insightCell.append(el("span", { class: "hint", text: "no entity mapped" }));
      }
      if (inc.latest_insight) {
        insightCell.append(" ", el("a", { href: "#/insights/" + encodeURIComponent(inc.latest_insight),
                                          text: "latest insight" }));
      }
      rows.append(el("tr", { "data-incident": inc.id },
        el("td", {}, el("span", { class: "badge " + inc.status, text: inc.status })),
        el("td", {}, inc.title || "(untitled)"),
        el("td", { class: "mono" }, inc.symptom || "—"),
        el("td", {}, fmtTime(inc.at)),
        el("td", {}, inc.source),
        insightCell));
    }
    show("incident-empty", incidents.items.length === 0);
    renderInsightRows(insights, true);
  }

  function renderInsightRows(page, reset) {
    const rows = reset ? clear($("insight-rows")) : $("insight-rows");
    for (const ins of page.items) {
      rows.append(el("tr", {},
        el("td", {}, el("span", { class: "badge " + ins.status, text: ins.status })),
        el("td", { class: "mono" }, el("a", { href: "#/insights/" + encodeURIComponent(ins.id), text: ins.symptom })),
        el("td", { class: "mono" }, ins.top_cause ? shortId(ins.top_cause) : (ins.error ? "failed" : "…")),
        el("td", {}, fmtTime(ins.created_at)),
        el("td", {}, ins.source)));
    }
    state.insightCursor = page.next_cursor;
    show("insight-more", !!page.next_cursor);
  }

  $("insight-more").addEventListener("click", async () => {
    if (!state.insightCursor) return;
    renderInsightRows(await api("/v1/insights?limit=25&cursor=" + encodeURIComponent(state.insightCursor)), false);
  });

  // ---------------------------------------------------------------- one insight
  async function renderInsight(id) {
    show("insight", true);
    show("result", false);
    show("insight-error", false);
    show("insight-partial", false);
    $("insight-title").textContent = "Insight";
    await pollInsight(id, true);
  }

  async function pollInsight(id, first) {
    if (state.route !== "insight:" + id) return;
    let insight;
    try {
      insight = await api("/v1/insights/" + encodeURIComponent(id));
    } catch (err) {
      if (err.status === 404) return showError("No insight " + id + ".");
      if (err.status === 401) return;
      return showError(err.message);
    }
    state.insight = insight;
    $("insight-title").textContent = insight.request.title || ("Insight for " + insight.request.symptom);
    $("insight-symptom").textContent = insight.request.symptom;
    $("insight-at").textContent = fmtTime(insight.request.at);
    const badge = $("insight-status");
    badge.textContent = insight.status;
    badge.className = "badge " + insight.status;
    if (insight.status === "queued" || insight.status === "running") {
      renderProgress(insight);
      state.pollTimer = setTimeout(() => pollInsight(id, false), POLL_MS);
      return;
    }
    renderProgress(insight);
    if (insight.status === "failed") return showError("The analysis failed: " + (insight.error || "unknown error"));
    renderResult(insight);
    if (!first) $("top-cause-title").focus && $("top-cause").parentElement.scrollIntoView({ block: "nearest" });
  }

  function showError(text) {
    const node = $("insight-error");
    node.textContent = text;
    node.hidden = false;
  }

  function renderProgress(insight) {
    const finished = insight.status === "done" || insight.status === "failed";
    show("progress", !finished || insight.status === "failed");
    const index = Math.max(0, STAGES.indexOf(insight.stage));
    const pct = finished ? 100 : Math.round((index / (STAGES.length - 1)) * 100);
    $("progress-fill").style.width = pct + "%";
    $("progress-bar").setAttribute("aria-valuenow", String(pct));
    const started = insight.started_at ? new Date(insight.started_at) : null;
    const elapsed = started ? ((Date.now() - started.getTime()) / 1000).toFixed(1) + " s" : "waiting for a worker";
    $("progress-label").textContent = finished ? ("Finished: " + insight.status)
      : ("Running: " + insight.stage + " (" + elapsed + ")");
    const list = clear($("progress-stages"));
    STAGES.slice(0, -1).forEach((stage, i) => {
      const cls = finished || i < index ? "done" : (i === index ? "current" : "");
      list.append(el("li", { class: cls, text: stage }));
    });
  }

  function renderResult(insight) {
    show("progress", false);
    show("result", true);
    const gaps = insight.partial || [];
    $("insight-partial").textContent = gaps.length ? "Partial evidence — " + gaps.join("; ") : "";
    show("insight-partial", gaps.length > 0);
    const top = insight.candidates[0];
    $("top-cause").textContent = top ? top.entity : "no candidate stood out";
    $("top-score").textContent = top ? "score " + Number(top.score).toFixed(2) : "";
    $("narrative-summary").textContent = insight.narrative ? insight.narrative.summary : "";
    const chain = clear($("chain-list"));
    for (const hop of insight.chain) chain.append(el("li", { class: "mono", text: shortId(hop), title: hop }));
    renderCandidates(insight);
    renderNarrative(insight);
    renderSparklines(insight);
    renderEntities(insight);
    drawGraph(insight);
    const t = insight.timings_ms || {};
    $("timings").textContent = "Analysis took " + (t.total !== undefined ? Math.round(t.total) + " ms" : "?")
      + " · data: " + ((insight.topology && insight.topology.entities.length) || 0) + " entities";
  }

  function renderCandidates(insight) {
    const list = clear($("candidates"));
    insight.candidates.slice(0, 8).forEach((cand, i) => {
      const evidence = el("ul", { class: "evidence" });
      for (const ev of cand.evidence.slice(0, 6)) {
        evidence.append(el("li", {}, el("span", { class: "kind", text: ev.kind }), ev.summary, telemetryOf(ev, cand)));
      }
      const showChain = el("button", { type: "button", class: "secondary", text: "Show chain",
                                       "aria-label": "Highlight the fault chain of " + cand.entity });
      showChain.addEventListener("click", () => highlightChain(cand.chain));
      list.append(el("li", { "data-candidate": cand.entity },
        el("div", { class: "cand-head" },
          el("span", { class: "name mono", text: cand.entity }),
          el("span", { class: "scorebar", title: "score " + cand.score },
             bar(Math.max(0, Math.min(1, Number(cand.score))))),
          el("span", { class: "score", text: Number(cand.score).toFixed(2) }),
          i === 0 ? null : showChain),
        evidence));
    });
    if (!insight.candidates.length) list.append(el("li", { text: "No candidate stood out." }));
  }

  // ---------------------------------------------------------------- traces and logs behind an evidence item
  function telemetryOf(ev, cand) {
    const parts = [];
    if (ev.template) parts.push(el("div", { class: "template mono", title: "log template", text: ev.template }));
    for (const line of (ev.log_lines || []).slice(0, 3)) parts.push(el("div", { class: "logline mono", text: line }));
    if (ev.traces && ev.traces.length) {
      parts.push(el("div", { class: "traces" }, "exemplar traces: ", ev.traces.map((t) => {
        const b = el("button", { type: "button", class: "link mono", text: shortId(t), title: t,
                                 "aria-label": "Show trace " + t });
        b.addEventListener("click", () => { selectEntity(cand.entity, true); showTrace(t); });
        return b;
      })));
    }
    return parts.length ? el("div", { class: "telemetry" }, parts) : null;
  }

  function firstTrace(cand) {
    for (const ev of cand.evidence) if (ev.traces && ev.traces.length) return ev.traces[0];
    return null;
  }

  function logLinesOf(cand) {
    const out = [];
    for (const ev of cand.evidence) {
      if (ev.template) out.push(el("li", {}, el("span", { class: "kind", text: "template" }), el("span", { class: "mono", text: ev.template })));
      for (const line of ev.log_lines || []) out.push(el("li", { class: "mono", text: line }));
    }
    return out;
  }

  async function showTrace(traceId) {
    const box = $("trace-view");
    if (!box) return;
    box.replaceChildren(el("p", { class: "hint", text: "Loading trace " + traceId + "…" }));
    let trace;
    try {
      trace = await api("/v1/traces/" + encodeURIComponent(traceId));
    } catch (err) {
      box.replaceChildren(el("p", { class: "hint", text: "Trace " + traceId + " is not available: " + err.message }));
      return;
    }
    box.replaceChildren(waterfall(trace));
  }

  function waterfall(trace) {
    const spans = trace.spans || [];
    const t0 = Math.min(...spans.map((s) => s.start_ns));
    const t1 = Math.max(...spans.map((s) => s.end_ns));
    const total = Math.max(t1 - t0, 1);
    const depth = {};
    for (const s of spans) depth[s.span_id] = s.parent_span_id && depth[s.parent_span_id] !== undefined ? depth[s.parent_span_id] + 1 : 0;
    const rows = el("ol", { class: "waterfall", "aria-label": "Spans of trace " + trace.trace_id });
    for (const s of spans) {
      const ms = (s.end_ns - s.start_ns) / 1e6;
      const barEl = el("span", { class: "span-bar" + (s.error ? " err" : ""), title: s.name + " " + ms.toFixed(1) + " ms" });
      barEl.style.marginLeft = ((s.start_ns - t0) / total * 100).toFixed(2) + "%";
      barEl.style.width = Math.max((s.end_ns - s.start_ns) / total * 100, 0.3).toFixed(2) + "%";
      const label = el("span", { class: "span-label" }, el("span", { class: "svc", text: s.service || "?" }), " ",
                       el("span", { class: "mono", text: s.name }), " ", el("span", { class: "dur", text: ms.toFixed(1) + " ms" }),
                       s.error ? el("span", { class: "err", text: " error" + (s.status_message ? ": " + s.status_message : "") }) : null,
                       s.exception ? el("span", { class: "err", text: " " + s.exception }) : null);
      label.style.paddingLeft = (depth[s.span_id] * 0.8) + "em";
      rows.append(el("li", {}, label, el("span", { class: "span-track" }, barEl)));
    }
    const logs = el("ul", { class: "trace-logs" });
    for (const line of trace.logs || []) {
      logs.append(el("li", { class: "mono" }, el("span", { class: "kind", text: line.level }), line.body));
    }
    return el("div", {}, el("p", { class: "mono", text: "trace " + trace.trace_id + " · " + spans.length + " spans · "
      + (total / 1e6).toFixed(1) + " ms" }), rows, (trace.logs || []).length ? logs : null);
  }

  function bar(fraction) {
    const fill = el("span", {});
    fill.style.width = Math.round(fraction * 100) + "%";
    return fill;
  }

  function renderNarrative(insight) {
    const events = clear($("event-chain"));
    const fixes = clear($("fixes"));
    const n = insight.narrative;
    if (!n) return;
    for (const step of n.event_chain || []) {
      events.append(el("li", {}, el("time", { datetime: step.at, text: fmtTime(step.at).slice(11) }), step.what));
    }
    for (const fix of n.fix_suggestions || []) {
      // the command is shown as code, alone, so it is copied whole; what it does and how to undo it follow
      fixes.append(el("li", {}, fix.action,
        fix.command ? el("pre", {}, el("code", { text: fix.command })) : null,
        fix.effect ? el("div", { class: "hint", text: "Does: " + fix.effect }) : null,
        el("div", { class: "hint", text: "Risk: " + fix.risk + (fix.command ? "" : " (on " + fix.entity + ")") }),
        fix.undo ? el("div", { class: "hint", text: "Undo: " + fix.undo }) : null));
    }
    // what the number means, and whether the top candidates are too close to call (narrator.confidence)
    $("confidence").textContent = n.confidence_text
      || (n.confidence === null || n.confidence === undefined ? "Confidence: uncalibrated."
          : "Confidence " + Number(n.confidence).toFixed(2) + ".");
    $("narrative-by").textContent = "Narrative by the " + (n.narrator || "template") + " narrator"
      + (n.model ? " (" + n.model + ")" : "") + (n.fallback_reason ? " — fallback: " + n.fallback_reason : "") + ".";
  }

  function renderSparklines(insight) {
    const box = clear($("sparklines"));
    for (const s of insight.sparklines || []) {
      const values = s.v.filter((v) => v !== null && isFinite(v));
      if (!values.length) continue;
      const min = Math.min(...values), max = Math.max(...values);
      const t0 = s.t[0], t1 = s.t[s.t.length - 1] || t0 + 1;
      const W = 240, H = 48;
      const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * W;
      const y = (v) => H - 3 - ((v - min) / Math.max(1e-12, max - min)) * (H - 6);
      const points = [];
      s.t.forEach((t, i) => { if (s.v[i] !== null && isFinite(s.v[i])) points.push(x(t).toFixed(1) + "," + y(s.v[i]).toFixed(1)); });
      const graphic = svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img",
                                   "aria-label": s.entity + " " + s.metric + " from " + min.toPrecision(3) + " to " + max.toPrecision(3) });
      graphic.append(svg("polyline", { points: points.join(" ") }));
      if (s.onset) {
        const onsetX = x(new Date(s.onset).getTime() / 1000);
        if (onsetX >= 0 && onsetX <= W) graphic.append(svg("line", { class: "onset", x1: onsetX, x2: onsetX, y1: 0, y2: H }));
      }
      box.append(el("figure", { class: "spark", "data-series": s.entity + "/" + s.metric },
        el("figcaption", {}, el("div", { class: "label mono", text: shortId(s.entity) + " · " + s.metric }),
           el("div", { class: "range", text: "min " + min.toPrecision(3) + " · max " + max.toPrecision(3)
                                              + (s.onset ? " · onset " + fmtTime(s.onset).slice(11) : "") })),
        graphic));
    }
    if (!box.firstChild) box.append(el("p", { class: "hint", text: "No metric series for this insight." }));
  }

  // ---------------------------------------------------------------- entities: list (keyboard) and graph (mouse)
  function scoreColour(score) {
    // grey-blue -> amber -> red, by anomaly severity in [0, 1]
    const stops = [[0, [223, 228, 236]], [0.5, [253, 174, 97]], [1, [215, 48, 31]]];
    const s = Math.max(0, Math.min(1, Number(score) || 0));
    for (let i = 1; i < stops.length; i++) {
      if (s <= stops[i][0]) {
        const [a, ca] = stops[i - 1], [b, cb] = stops[i];
        const f = (s - a) / (b - a);
        const c = ca.map((v, k) => Math.round(v + (cb[k] - v) * f));
        return "rgb(" + c.join(",") + ")";
      }
    }
    return "rgb(215,48,31)";
  }

  function renderEntities(insight) {
    const list = clear($("entity-list"));
    const scores = insight.entity_scores || {};
    const entities = (insight.topology ? insight.topology.entities : []).slice()
      .sort((a, b) => (scores[b.id] || 0) - (scores[a.id] || 0) || a.id.localeCompare(b.id));
    for (const entity of entities) {
      const dot = el("span", { class: "dot", "aria-hidden": "true" });
      dot.style.background = scoreColour(scores[entity.id] || 0);
      const pick = el("button", { type: "button", class: "pick mono", "data-entity": entity.id, text: entity.id });
      pick.addEventListener("click", () => selectEntity(entity.id, true));
      list.append(el("li", {}, dot, pick, wandButton("Run insight from " + entity.id,
        { symptom: entity.id, at: insight.request.at, lookback: insight.request.lookback }, true)));
    }
    $("entity-detail").replaceChildren(el("p", { class: "hint", text: "Select an entity in the graph or the list." }));
  }

  function selectEntity(id, fromList) {
    const insight = state.insight;
    if (!insight || !insight.topology) return;
    const entity = insight.topology.entities.find((e) => e.id === id);
    if (!entity) return;
    state.selected = id;
    for (const b of document.querySelectorAll("#entity-list button.pick")) {
      b.setAttribute("aria-current", b.getAttribute("data-entity") === id ? "true" : "false");
    }
    if (state.cy) {
      state.cy.$(":selected").unselect();
      const node = state.cy.getElementById(id);
      if (node && node.length) { node.select(); if (fromList) state.cy.animate({ center: { eles: node }, duration: 200 }); }
    }
    const facts = el("dl", { class: "facts" },
      el("dt", { text: "id" }), el("dd", { class: "mono", text: entity.id }),
      el("dt", { text: "kind" }), el("dd", { text: entity.kind }),
      el("dt", { text: "anomaly" }), el("dd", { text: (insight.entity_scores[id] || 0).toFixed(2) }));
    for (const [k, v] of Object.entries(entity.attrs || {}).slice(0, 12)) {
      facts.append(el("dt", { text: k }), el("dd", { class: "mono", text: typeof v === "string" ? v : JSON.stringify(v) }));
    }
    const cand = insight.candidates.find((c) => c.entity === id);
    const extra = cand ? el("p", {}, "Candidate #" + cand.rank + ", score " + Number(cand.score).toFixed(2)) : null;
    const lines = cand ? logLinesOf(cand) : [];
    const traceId = cand ? firstTrace(cand) : null;
    $("entity-detail").replaceChildren(facts, extra || "",
      lines.length ? el("div", {}, el("h3", { text: "Log lines" }), el("ul", { class: "loglines" }, lines)) : "",
      traceId ? el("div", {}, el("h3", { text: "Exemplar trace" }), el("div", { id: "trace-view" })) : "",
      wandButton("Run insight from " + id, { symptom: id, at: insight.request.at, lookback: insight.request.lookback }));
    if (traceId) showTrace(traceId);
  }

  function drawGraph(insight) {
    if (state.cy) { state.cy.destroy(); state.cy = null; }
    const topo = insight.topology;
    if (!topo || typeof window.cytoscape !== "function") return;
    const scores = insight.entity_scores || {};
    const chain = insight.chain || [];
    const chainSet = new Set(chain);
    const chainEdges = new Set();
    for (let i = 0; i + 1 < chain.length; i++) chainEdges.add(chain[i] + "\u0000" + chain[i + 1]);
    const top = chain[0];
    const elements = [];
    for (const e of topo.entities) {
      elements.push({ group: "nodes", data: { id: e.id, label: shortId(e.id), kind: e.kind,
        colour: scoreColour(scores[e.id] || 0) },
        classes: [chainSet.has(e.id) ? "chain" : "", e.id === top ? "top" : "", e.id === insight.request.symptom ? "symptom" : ""].join(" ") });
    }
    const seen = new Set();
    topo.relations.forEach((r, i) => {
      const key = r.src + "\u0000" + r.dst;
      if (seen.has(key)) return;
      seen.add(key);
      // a fault flows against the dependency arrow: the chain runs dependency -> dependent
      const onChain = chainEdges.has(r.dst + "\u0000" + r.src) || chainEdges.has(key);
      elements.push({ group: "edges", data: { id: "r" + i, source: r.src, target: r.dst, label: r.kind },
                      classes: onChain ? "chain" : "" });
    });
    const hasIncoming = new Set(topo.relations.map((r) => r.dst));
    const roots = topo.entities.filter((e) => !hasIncoming.has(e.id)).map((e) => e.id);
    state.cy = window.cytoscape({
      container: $("graph"),
      elements,
      minZoom: 0.2,
      maxZoom: 3,
      style: [
        { selector: "node", style: { "background-color": "data(colour)", "label": "data(label)", "font-size": 10,
          "text-valign": "bottom", "text-margin-y": 4, "color": "#1d2430", "text-wrap": "ellipsis",
          "text-max-width": 150, "width": 26, "height": 26, "border-width": 1, "border-color": "#8a93a5" } },
        { selector: "node.chain", style: { "border-width": 4, "border-color": "#6d28d9" } },
        { selector: "node.top", style: { "width": 38, "height": 38, "border-width": 6, "border-style": "double",
          "font-weight": "bold", "font-size": 12 } },
        { selector: "node.symptom", style: { "shape": "round-rectangle" } },
        { selector: "node:selected", style: { "overlay-opacity": 0.15, "overlay-color": "#f59e0b" } },
        { selector: "edge", style: { "width": 1.2, "line-color": "#b6bdca", "target-arrow-color": "#b6bdca",
          "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } },
        { selector: "edge.chain", style: { "width": 4, "line-color": "#6d28d9", "target-arrow-color": "#6d28d9",
          "label": "data(label)", "font-size": 8, "color": "#6d28d9", "text-background-color": "#fbfbfd",
          "text-background-opacity": 1 } },
        { selector: ".dim", style: { "opacity": 0.25 } },
      ],
      layout: { name: "breadthfirst", directed: true, roots: roots.length ? roots : undefined, spacingFactor: 1.1,
                nodeDimensionsIncludeLabels: true,
                padding: 20, animate: false },
    });
    state.cy.on("tap", "node", (event) => selectEntity(event.target.id(), false));
    $("graph-desc").textContent = "Graph of " + topo.entities.length + " entities and " + topo.relations.length
      + " relations. Fault chain: " + chain.join(" → ") + ". The entity list beside it has the same entities.";
  }

  function highlightChain(chain) {
    if (!state.cy) return;
    const cy = state.cy;
    cy.elements().removeClass("chain dim");
    const set = new Set(chain);
    const pairs = new Set();
    for (let i = 0; i + 1 < chain.length; i++) { pairs.add(chain[i] + "\u0000" + chain[i + 1]); pairs.add(chain[i + 1] + "\u0000" + chain[i]); }
    cy.nodes().forEach((n) => { if (set.has(n.id())) n.addClass("chain"); });
    cy.edges().forEach((e) => { if (pairs.has(e.source().id() + "\u0000" + e.target().id())) e.addClass("chain"); });
    const list = clear($("chain-list"));
    for (const hop of chain) list.append(el("li", { class: "mono", text: shortId(hop), title: hop }));
  }

  // ---------------------------------------------------------------- router
  async function route() {
    clearTimeout(state.pollTimer);
    for (const id of ["home", "insight", "auth"]) show(id, false);
    const hash = location.hash || "#/";
    const match = hash.match(/^#\/insights\/([^/?#]+)$/);
    try {
      if (match) {
        state.route = "insight:" + decodeURIComponent(match[1]);
        await renderInsight(decodeURIComponent(match[1]));
      } else {
        state.route = "home";
        await renderHome();
      }
    } catch (err) {
      if (err.status !== 401) setConn(err.message);
    }
  }

  window.addEventListener("hashchange", () => { route(); $("main").focus({ preventScroll: true }); });
  route();
})();
