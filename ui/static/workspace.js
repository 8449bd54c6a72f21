// Workspace page: usage for everyone; members, keys, S3 access, audit log, export and erasure for owners.
"use strict";

(() => {
  const { _ } = ML;
  const action = document.getElementById("workspace-action");
  const $ = (id) => document.getElementById(id);
  if (!action) return;

  function said(text, failed) {
    action.textContent = text;
    action.className = failed ? "error" : "muted";
    action.hidden = false;
  }

  async function call(path, options, done) {
    const reply = await ML.api(path, options);
    if (!reply.ok) { said((reply.data && reply.data.error) || _("the server answered {status}", { status: reply.status }), true); return null; }
    if (done) said(done, false);
    return reply.data;
  }

  const when = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 16) : _("never"));

  async function usage() {
    const data = await call("/workspace/usage?days=30");
    if (!data) return;
    const days = data.days || [];
    const sum = (name) => days.reduce((n, d) => n + (Number(d[name]) || 0), 0);
    const quota = data.quota || {};
    const values = { files: data.stored.files, bytes: ML.bytes(data.stored.bytes), quota: ML.bytes(quota.storage_bytes || 0),
      processed: sum("files_processed"), cpu: sum("cpu_s").toFixed(0), gpu: sum("gpu_usd").toFixed(2), daily: quota.files_per_day };
    $("usage").textContent = _("{files} files, {bytes} stored", values) +
      (quota.storage_bytes != null ? _(" (quota {quota})", values) : "") +
      _("; last 30 days: {processed} processed, {cpu} CPU seconds, {gpu} USD of GPU", values) +
      (quota.files_per_day != null ? _("; at most {daily} uploads a day", values) : "");
  }

  async function members() {
    const data = await call("/workspace/members");
    if (!data) return;
    $("members").replaceChildren(...Object.entries(data.members).map(([user, role]) => ML.el("tr", {},
      ML.el("td", { text: user }), ML.el("td", { text: ML.name(role) }),
      ML.el("td", {}, ML.el("button", { type: "button", class: "link", text: _("Remove"), "aria-label": _("Remove {user}", { user }), onclick: async () => {
        if (await call(`/workspace/members/${encodeURIComponent(user)}`, { method: "DELETE" }, _("{user} removed", { user }))) changed(members);
      } })))));
  }

  async function keys() {
    const data = await call("/workspace/keys");
    if (!data) return;
    $("keys").replaceChildren(...data.keys.map((key) => ML.el("tr", {},
      ML.el("td", {}, ML.el("code", { text: key.id })), ML.el("td", { text: key.name }), ML.el("td", { text: ML.name(key.role) }),
      ML.el("td", { text: key.created_by }), ML.el("td", { text: when(key.expires_at) }),
      ML.el("td", {}, ML.el("button", { type: "button", class: "link", text: _("Revoke"), "aria-label": _("Revoke the key {name}", { name: key.name }), onclick: async () => {
        if (await call(`/workspace/keys/${key.id}`, { method: "DELETE" }, _("key {id} revoked", { id: key.id }))) changed(keys);
      } })))));
  }

  async function audit() {
    const data = await call("/workspace/audit?limit=50");
    if (!data) return;
    $("audit").replaceChildren(...data.entries.map((e) => ML.el("tr", {},
      ML.el("td", { text: when(e.time) }), ML.el("td", { text: e.actor }), ML.el("td", { text: e.action }),
      ML.el("td", { text: e.target }), ML.el("td", { text: e.source }))));
  }

  // What an action changed, and the audit log that now records it.
  function changed(list) { list(); audit(); }

  usage();
  if (!$("members")) return;
  members(); keys(); audit();

  $("member-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = $("member-user").value.trim();
    if (await call(`/workspace/members/${encodeURIComponent(user)}`, { method: "PUT", body: { role: $("member-role").value } },
      _("{user} is {role}", { user, role: ML.name($("member-role").value) }))) changed(members);
  });

  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const days = Number($("key-days").value);
    const made = await call("/workspace/keys", { method: "POST", body: Object.assign(
      { name: $("key-name").value.trim(), role: $("key-role").value }, days ? { expires_in_days: days } : {}) });
    if (!made) return;
    $("new-key").replaceChildren(_("Copy this key now, it is not shown again: "), ML.el("code", { text: made.secret }));
    $("new-key").hidden = false;
    changed(keys);
  });

  $("s3-issue").addEventListener("click", async () => {
    const made = await call("/workspace/s3-credentials", { method: "POST" });
    if (!made) return;
    $("s3").replaceChildren(_("endpoint {endpoint}, access key ", { endpoint: made.endpoint }), ML.el("code", { text: made.access_key }),
      _(", secret key (shown once) "), ML.el("code", { text: made.secret_key }),
      _("; put objects under {prefix} in {buckets}", { prefix: Object.values(made.buckets)[0], buckets: Object.keys(made.buckets).join(", ") }));
    $("s3").hidden = false;
    audit();
  });

  $("erase-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await call("/workspace", { method: "DELETE", body: { confirm: $("erase-confirm").value.trim() } });
    if (done) window.location.assign("/workspace");
  });
})();
