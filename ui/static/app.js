// Shared helpers for every page: API calls with the session and DOM building. Plain JS, no build step.
"use strict";

const ML = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  // The page's language: translations of this file's and the page scripts' strings (ui/i18n.py), {} in English.
  const catalogue = JSON.parse(document.getElementById("catalogue")?.textContent || "{}");
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (whole, key) => (key in (values || {}) ? String(values[key]) : whole));

  // A string to show: wrapped so `python -m ui.i18n` finds it, with {name} placeholders filled from `values`.
  function _(message, values) {
    const found = catalogue[message];
    return fill(typeof found === "string" && found ? found : message, values);
  }

  // English and German have one singular and one plural form; {n} is the count.
  function ngettext(singular, plural, n, values) {
    const forms = Array.isArray(catalogue[singular]) ? catalogue[singular] : [singular, plural];
    return fill(Number(n) === 1 ? forms[0] : forms[1], Object.assign({ n }, values || {}));
  }

  // A state, media type or role as the page's language names it; the data keeps the English value.
  const name = (value) => (typeof catalogue[value] === "string" && catalogue[value]) || value;

  // The API accepts the session cookie; the CSRF header proves the request came from our pages.
  async function api(path, options = {}) {
    const headers = Object.assign({ "X-CSRF-Token": csrf }, options.headers || {});
    let body = options.body;
    if (body !== undefined && typeof body !== "string" && !(body instanceof FormData)) {
      body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    // options.timeout (ms): a reply that has not come by then is given up (the promise rejects).
    const controller = new AbortController();
    const timer = options.timeout ? setTimeout(() => controller.abort(), options.timeout) : null;
    try {
      const reply = await fetch("/api/v1" + path, {
        method: options.method || "GET", headers, body, credentials: "same-origin",
        keepalive: Boolean(options.keepalive), signal: controller.signal,
      });
      let data = null;
      try { data = await reply.json(); } catch (e) { data = null; }
      return { status: reply.status, ok: reply.ok, data };
    } finally {
      clearTimeout(timer);
    }
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

  // A face's box (fractions of the picture) fills `node`: the picture scaled and moved behind it, with a
  // margin of the box on each side so the thumbnail shows a little of the head around the face.
  function faceCrop(node, face, margin = 0.15) {
    const box = face.box || {};
    const w0 = Number(box.width) || 1, h0 = Number(box.height) || 1;
    const x = Math.max(0, (Number(box.x) || 0) - w0 * margin), y = Math.max(0, (Number(box.y) || 0) - h0 * margin);
    const w = Math.min(1 - x, w0 * (1 + 2 * margin)), h = Math.min(1 - y, h0 * (1 + 2 * margin));
    node.style.backgroundImage = `url("${face.picture_url}")`;
    node.style.backgroundSize = `${100 / w}% ${100 / h}%`;
    node.style.backgroundPosition = `${w < 1 ? (x / (1 - w)) * 100 : 0}% ${h < 1 ? (y / (1 - h)) * 100 : 0}%`;
    return node;
  }

  // A message with {name} places filled in: page scripts keep their words in one place and fill them here.
  function format(template, values) {
    return String(template).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
  }

  // A page's status line (#notice): a message, and an Undo button while `undo` can still take it back.
  function tell(notice, message, undoLabel, undo) {
    notice.querySelector(".message").textContent = message;
    const button = notice.querySelector(".undo");
    button.textContent = undoLabel;
    button.hidden = !undo;
    button.onclick = undo || null;
    notice.hidden = false;
  }

  return { api, el, clock, bytes, csrf, faceCrop, format, tell, _, ngettext, name };
})();
