// Shared helpers for every page: API calls with the session and DOM building. Plain JS, no build step.
"use strict";

const ML = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  // The API accepts the session cookie; the CSRF header proves the request came from our pages.
  async function api(path, options = {}) {
    const headers = Object.assign({ "X-CSRF-Token": csrf }, options.headers || {});
    let body = options.body;
    if (body !== undefined && typeof body !== "string" && !(body instanceof FormData)) {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    const reply = await fetch("/api/v1" + path, {
      method: options.method || "GET", headers, body, credentials: "same-origin", keepalive: Boolean(options.keepalive),
    });
    let data = null;
    try { data = await reply.json(); } catch (e) { data = null; }
    return { status: reply.status, ok: reply.ok, data };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clock(seconds) {
    const s = Math.max(0, Number(seconds) || 0);
    const m = Math.floor(s / 60);
    return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
  }

  function bytes(n) {
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  }

  // A message with {name} places filled in: page scripts keep their words in one place and fill them here.
  function format(template, values) {
    return String(template).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  return { api, el, clock, bytes, csrf, format };
})();
