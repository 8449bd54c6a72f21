// System page: GPU nodes and spend, when the GPU API is installed.
"use strict";

(async () => {
  const { _ } = ML;
  const target = document.getElementById("gpu");
  const reply = await ML.api("/gpu");
  if (reply.status === 404) {
    target.replaceChildren(ML.el("p", { class: "muted", text: _("No GPU nodes are configured: every function runs on this machine.") }));
    return;
  }
  if (!reply.ok) {
    target.replaceChildren(ML.el("p", { class: "error", text: _("GPU status unavailable: {reason}", { reason: reply.data?.error || `HTTP ${reply.status}` }) }));
    return;
  }
  const data = reply.data || {};
  const nodes = data.nodes || data.instances || [];
  const budget = data.budget || {};
  const rows = nodes.map((n) => ML.el("tr", {},
    ML.el("td", { text: n.name || n.id || "?" }), ML.el("td", { text: n.state || n.status || "" }),
    ML.el("td", { text: n.url || n.gateway || "" }), ML.el("td", { text: n.dph ?? n.price_per_hour ?? n.dph_total ?? "" })));
  const parts = [];
  if (nodes.length) {
    parts.push(ML.el("div", { class: "table-wrap", tabindex: "0" }, ML.el("table", {},
      ML.el("thead", {}, ML.el("tr", {}, [_("node"), _("state"), _("gateway"), _("$/hour")].map((h) => ML.el("th", { text: h })))),
      ML.el("tbody", {}, rows))));
  } else {
    parts.push(ML.el("p", { class: "muted", text: _("No GPU node is running.") }));
  }
  const spent = data.spent ?? budget.spent, limit = data.limit ?? budget.limit ?? budget.daily;
  if (spent !== undefined) {
    const values = { spent: Number(spent).toFixed(2), limit: Number(limit).toFixed(2) };
    parts.push(ML.el("p", { text: limit !== undefined ? _("Spend: ${spent} of ${limit} budget", values) : _("Spend: ${spent}", values) }));
  }
  parts.push(ML.el("details", {}, ML.el("summary", { text: _("raw") }), ML.el("pre", { text: JSON.stringify(data, null, 2) })));
  target.replaceChildren(...parts);
})();
