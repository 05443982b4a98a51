// The orderflow console: a page per hash route, each reading the console's
// JSON API; only an open, visible page polls.
"use strict";
(function () {
  const token = document.querySelector('meta[name="orderflow-token"]').content;
  const onAWS = document.querySelector('meta[name="orderflow-aws"]').content === "true";
  const stack = document.querySelector('meta[name="orderflow-stack"]').content;
  const main = document.getElementById("main");
  let timer = null, route = "";

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  async function get(path) {
    const r = await fetch(path, {headers: {Accept: "application/json", "X-Orderflow-Token": token}});
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }
  async function post(path, body) {
    const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json", "X-Orderflow-Token": token}, body: JSON.stringify(body)});
    const out = await r.json();
    if (!r.ok) throw new Error(out.error || r.statusText);
    return out;
  }
  // every runs f now and then every ms while this route is shown and the
  // tab is visible.
  function every(ms, f) {
    const mine = route;
    const tick = async () => {
      if (route !== mine) return;
      if (!document.hidden) { try { await f(); } catch (e) { showError(e); } }
      if (route === mine) timer = setTimeout(tick, ms);
    };
    tick();
  }
  function showError(e) {
    let s = document.getElementById("error");
    if (!s) { s = el("p", {id: "error", class: "status err", role: "alert"}); main.prepend(s); }
    s.textContent = e.message;
  }
  // put replaces parent's children with kids, leaving out the null ones.
  function put(parent, ...kids) { parent.replaceChildren(...kids.filter(k => k != null)); }
  function plural(n, noun) { return n === 1 ? "1 " + noun : n + " " + noun + "s"; }
  function clearError() { const s = document.getElementById("error"); if (s) s.remove(); }
  function storyLink(id) { return el("a", {href: "#/order/" + encodeURIComponent(id), class: "story", text: id}); }
  function ago(iso) {
    if (!iso) return "-";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
  }

  // confirm asks in the page's dialog; on AWS it wants the stack's name.
  function ask(text) {
    const d = document.getElementById("confirm"), input = document.getElementById("confirm-input");
    document.getElementById("confirm-text").textContent = text + (onAWS ? " This is AWS." : "");
    document.getElementById("confirm-aws").hidden = !onAWS;
    input.value = "";
    return new Promise(resolve => {
      d.addEventListener("close", () => {
        if (d.returnValue !== "ok") return resolve(null);
        if (onAWS && input.value !== stack) {
          showError(new Error(`Not confirmed: the stack's name is ${stack}; nothing was changed.`));
          return resolve(null);
        }
        resolve(onAWS ? input.value : "yes");
      }, {once: true});
      d.returnValue = "";
      d.showModal();
      (onAWS ? input : document.getElementById("confirm-cancel")).focus();
    });
  }

  // ---- Pipeline
  function node(id, title, lines, cls) {
    return el("section", {class: "node " + (cls || ""), id: "node-" + id, "aria-label": title}, el("h3", {text: title}), ...lines);
  }
  function fig(id, label, value) {
    return el("div", {}, el("span", {class: "big", id: id, text: String(value)}), " ", el("span", {class: "muted", text: label}));
  }
  function chart(title, series, key) {
    const pts = [];
    for (let i = 1; i < series.length; i++) {
      const dt = (series[i].t - series[i - 1].t) / 1000;
      if (dt > 0) pts.push([series[i].t, Math.max(0, (series[i][key] - series[i - 1][key]) / dt)]);
    }
    if (pts.length === 1 && series.length) pts.unshift([series[0].t, pts[0][1]]); // one rate: a level line
    const w = 300, h = 60, peak = Math.max(0, ...pts.map(p => p[1])), maxV = Math.max(1, peak);
    const t0 = series.length ? series[0].t : 0, t1 = series.length ? series[series.length - 1].t : 1;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`); svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img"); svg.setAttribute("aria-label", title);
    const pl = document.createElementNS(ns, "polyline");
    pl.setAttribute("points", pts.map(p => `${((p[0] - t0) / Math.max(1, t1 - t0) * w).toFixed(1)},${(h - 2 - p[1] / maxV * (h - 4)).toFixed(1)}`).join(" "));
    svg.append(pl);
    const now = pts.length ? pts[pts.length - 1][1] : 0;
    const note = pts.length ? `${now.toFixed(1)}/s now, peak ${peak.toFixed(1)}/s` : "collecting: a rate needs two readings";
    return el("div", {class: "chart"}, el("div", {}, el("strong", {text: title}), " ", el("span", {class: "muted", text: note})), svg);
  }
  function pipeline() {
    main.replaceChildren(el("h1", {text: "Pipeline"}), el("div", {id: "pipeline"}, el("p", {text: "Reading…"})));
    every(2000, async () => {
      const v = await get("/api/pipeline");
      clearError();
      const o = v.outcomes, tp = v.topology;
      const topic = tp.Topic.slice(tp.Topic.lastIndexOf(":") + 1);
      const flow = el("div", {class: "flow"},
        node("topic", topic, [fig("published", "events delivered (settled + waiting)", v.published)]),
        el("span", {class: "arrow", "aria-hidden": "true", text: "→"}),
        node("queue", tp.Queue, [fig("queue-visible", "visible", v.queue.visible), fig("queue-inflight", "in flight", v.queue.inFlight), fig("queue-delayed", "delayed", v.queue.delayed)]),
        el("span", {class: "arrow", "aria-hidden": "true", text: "→"}),
        node("function", tp.Function, [fig("invocations", "invocations", v.invocations),
          ...["stored", "duplicate", "stale", "invalid", "failed"].map(k => fig("o-" + k, k, o[k]))]),
        el("span", {class: "arrow", "aria-hidden": "true", text: "→"}),
        node("table", tp.Table, [fig("items", "items", v.items)]),
        node("dlq", tp.DLQ, [fig("dlq-count", "dead letters", v.dlq.visible + v.dlq.inFlight + v.dlq.delayed), el("a", {href: "#/dlq", text: "Open dead letters"})], "dlq"));
      const s = v.series;
      const charts = el("div", {class: "charts"}, chart("stored", s, "stored"), chart("invalid", s, "invalid"), chart("duplicate + stale", s.map(x => ({t: x.t, ds: x.duplicate + x.stale})), "ds"),
        chart("failed", s, "failed"), chart("items written", s, "items"));
      const notes = [];
      if (v.catchingUp) notes.push(el("p", {class: "muted", text: "Still reading the function's log lines: the counts are catching up."}));
      for (const e of v.errors || []) notes.push(el("p", {class: "status err", text: e}));
      put(document.getElementById("pipeline"), flow, charts, ...notes,
        el("p", {class: "muted", id: "updated", text: "Updated " + new Date(v.at).toLocaleTimeString() + "; the charts show rates over the last minutes this page was open."}));
    });
  }

  // ---- Dead letters
  let job = null;
  function dlq() {
    const list = el("div", {id: "dlq-list"}, el("p", {text: "Reading OrderDLQ…"}));
    const status = el("div", {id: "job", "aria-live": "polite"});
    const btn = (id, text, f, cls) => el("button", {id, class: cls || "", type: "button", onclick: f, text});
    main.replaceChildren(el("h1", {text: "Dead letters"}),
      el("div", {class: "bar"},
        btn("refresh", "Refresh", () => loadDLQ()),
        btn("redrive-all", "Redrive all", () => redrive("all")),
        btn("redrive-transient", "Redrive only transient", () => redrive("transient")),
        btn("redrive-selected", "Redrive selected", () => redrive("selected")),
        btn("purge", "Purge…", () => purge(), "danger")),
      el("p", {class: "muted", text: "Reading the dead letters receives them (their receive counts rise), so this list is read when asked, not continuously."}),
      status, list);
    loadDLQ();
    watchJob();
  }
  async function loadDLQ() {
    const list = document.getElementById("dlq-list");
    if (!list) return;
    try {
      const d = await get("/api/dlq");
      clearError();
      const rows = d.messages.map(m => el("tr", {},
        el("td", {}, el("input", {type: "checkbox", class: "pick", value: m.messageId, "aria-label": "select " + m.messageId})),
        el("td", {}, m.orderId ? storyLink(m.orderId) : "-"),
        el("td", {text: m.code}), el("td", {text: m.reason}), el("td", {text: String(m.receiveCount)}), el("td", {text: ago(m.sentAt)}),
        el("td", {}, el("details", {}, el("summary", {text: m.messageId}), el("pre", {text: m.body})))));
      let summary = `${plural(d.listed, "dead letter")} listed`;
      if (d.listed !== d.visible) summary += ` of about ${d.visible} visible`;
      if (d.inFlight) summary += `; ${d.inFlight} in flight (being read elsewhere)`;
      list.replaceChildren(el("p", {id: "dlq-summary", text: summary + "."}),
        el("table", {id: "dlq-table"}, el("thead", {}, el("tr", {}, ...["", "Order", "Code", "Reason", "Receives", "Age", "Message (body)"].map(h => el("th", {text: h})))), el("tbody", {}, ...rows)));
    } catch (e) { showError(e); }
  }
  async function redrive(mode) {
    const ids = [...document.querySelectorAll("input.pick:checked")].map(x => x.value);
    if (mode === "selected" && ids.length === 0) return showError(new Error("Select the messages to redrive first."));
    const what = {all: "Move every dead letter in OrderDLQ back to OrderQueue?", transient: "Move the dead letters that failed transiently (not the invalid ones) back to OrderQueue?",
      selected: `Move the ${ids.length} selected dead letters back to OrderQueue?`}[mode];
    const confirm = await ask(what + " Invalid orders will fail again and return.");
    if (!confirm) return;
    try { job = await post("/api/dlq/redrive", {mode, ids, confirm}); clearError(); watchJob(); } catch (e) { showError(e); }
  }
  async function purge() {
    const confirm = await ask("Delete every message in OrderDLQ for good?");
    if (!confirm) return;
    try { job = await post("/api/dlq/purge", {confirm}); clearError(); watchJob(); } catch (e) { showError(e); }
  }
  function watchJob() {
    const mine = route;
    const tick = async () => {
      const box = document.getElementById("job");
      if (route !== mine || !box) return;
      const j = (await get("/api/job")).job;
      if (!j) return;
      const bar = el("progress", {max: String(Math.max(1, j.total)), value: String(j.done)});
      if (!j.over) {
        box.replaceChildren(el("p", {class: "status"}, `${j.kind}: ${j.done} of about ${j.total}… `, bar));
        setTimeout(tick, 500);
        return;
      }
      box.replaceChildren(el("p", {class: j.error ? "status err" : "status", id: "job-outcome", text: j.error || j.outcome}));
      if (job && job.id === j.id) { job = null; loadDLQ(); }
    };
    tick().catch(showError);
  }

  // ---- Orders
  function orders() {
    const idIn = el("input", {id: "order-id", name: "id", placeholder: "O1234", "aria-label": "order id"});
    const userIn = el("input", {id: "user-id", name: "user", placeholder: "U123", "aria-label": "user id"});
    const out = el("div", {id: "orders-out"});
    main.replaceChildren(el("h1", {text: "Orders"}),
      el("form", {class: "bar", id: "by-id", onsubmit: e => { e.preventDefault(); if (idIn.value) location.hash = "#/order/" + encodeURIComponent(idIn.value.trim()); }},
        el("label", {}, "Order id ", idIn), el("button", {type: "submit", text: "Show its story"})),
      el("form", {class: "bar", id: "by-user", onsubmit: e => { e.preventDefault(); listOrders(userIn.value.trim(), ""); }},
        el("label", {}, "User id ", userIn), el("button", {type: "submit", text: "List (newest first)"}),
        el("button", {type: "button", onclick: () => listOrders("", ""), text: "List any orders"})),
      out);
    listOrders("", "");
  }
  async function listOrders(user, next) {
    const out = document.getElementById("orders-out");
    try {
      const q = new URLSearchParams(); if (user) q.set("user", user); if (next) q.set("next", next);
      const page = await get("/api/orders?" + q);
      clearError();
      const rows = page.orders.map(o => el("tr", {}, el("td", {}, storyLink(o.orderId)), el("td", {text: o.userId}), el("td", {text: o.itemName}),
        el("td", {text: String(o.quantity)}), el("td", {text: o.status}), el("td", {text: o.timestamp})));
      put(out, el("p", {text: (user ? `User ${user}'s orders, newest first` : "Orders") + `: ${page.orders.length} on this page.`}),
        el("table", {id: "orders-table"}, el("thead", {}, el("tr", {}, ...["Order", "User", "Item", "Qty", "Status", "Timestamp"].map(h => el("th", {text: h})))), el("tbody", {}, ...rows)),
        page.next ? el("p", {}, el("button", {type: "button", id: "next-page", onclick: () => listOrders(user, page.next), text: "Next page"})) : null);
    } catch (e) { showError(e); }
  }

  // ---- An order's story
  function story(id) {
    main.replaceChildren(el("h1", {}, "Order ", el("span", {id: "story-id", text: id})), el("div", {id: "story"}, el("p", {text: "Reading its story…"})));
    every(3000, async () => {
      const s = await get("/api/trace/" + encodeURIComponent(id));
      clearError();
      const rows = s.events.map(ev => el("tr", {class: ev.won ? "won" : ""},
        el("td", {text: ev.time.replace("T", " ").replace("Z", "")}), el("td", {class: "outcome", text: ev.outcome}), el("td", {text: ev.status || "-"}),
        el("td", {text: ev.timestamp || "-"}), el("td", {text: String(ev.receiveCount)}), el("td", {text: ev.messageId || "-"}),
        el("td", {text: ev.durationMs.toFixed(1) + " ms"}), el("td", {text: ev.won ? "← in Orders now" : (ev.errorCode ? ev.errorCode + ": " : "") + (ev.error || "")})));
      const item = s.item ? `Orders holds status ${s.item.status} of ${s.item.timestamp} (user ${s.item.userId}, ${s.item.quantity} × ${s.item.itemName}).` : "Orders holds nothing of it.";
      const dls = s.deadLetters.map(d => el("li", {}, `message ${d.messageId} since ${d.sentAt}, after ${plural(d.receiveCount, "receive")}: ${d.code}: ${d.reason}`));
      put(document.getElementById("story"),
        el("p", {id: "story-summary", text: `${plural(s.events.length, "event")} seen by the function; ${s.deadLetters.length} in OrderDLQ. ${item}`}),
        el("table", {id: "story-table"}, el("thead", {}, el("tr", {}, ...["Time (UTC)", "Outcome", "Status", "Event time", "Receives", "Message", "Duration", "Note"].map(h => el("th", {text: h})))), el("tbody", {}, ...rows)),
        dls.length ? el("div", {}, el("h2", {text: "In OrderDLQ now"}), el("ul", {id: "story-dlq"}, ...dls)) : null,
        s.dlqNotRead ? el("p", {class: "muted", text: "Not all dead letters were read: " + s.dlqNotRead + "."}) : null);
    });
  }

  function show() {
    clearTimeout(timer);
    const h = location.hash || "#/pipeline";
    route = h + "@" + Date.now();
    for (const a of document.querySelectorAll("header nav a")) {
      if (h.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    if (h.startsWith("#/order/")) story(decodeURIComponent(h.slice(8)));
    else if (h === "#/dlq") dlq();
    else if (h === "#/orders") orders();
    else pipeline();
    main.focus({preventScroll: true});
  }
  window.addEventListener("hashchange", show);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) show(); });
  show();
})();
