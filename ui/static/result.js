// Result view: overlays drawn in SVG over the picture, a video/audio timeline and transcript that seek.
// Every result shape is read defensively: an analyzer that did not run simply draws nothing.
"use strict";

(() => {
  const { _, ngettext } = ML;
  const view = JSON.parse(document.getElementById("view").textContent);
  const results = view.results || {};
  const SVG = "http://www.w3.org/2000/svg";
  // mediapipe's 33-landmark body model: which landmarks a skeleton line joins.
  const POSE_LINES = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24],
    [23, 25], [25, 27], [24, 26], [26, 28], [27, 29], [29, 31], [27, 31], [28, 30], [30, 32], [28, 32],
    [15, 17], [15, 19], [15, 21], [17, 19], [16, 18], [16, 20], [16, 22], [18, 20],
    [0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5], [5, 6], [6, 8], [9, 10]];
  const VISIBLE = 0.5;

  const list = (value) => (Array.isArray(value) ? value : []);
  const num = (value) => (Number.isFinite(Number(value)) ? Number(value) : null);

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A box as {x, y, width, height}, [x1, y1, x2, y2] or four [x, y] points, all normalised: to a rectangle.
  function rect(box) {
    if (!box) return null;
    if (Array.isArray(box) && box.length === 4 && Array.isArray(box[0])) {
      const xs = box.map((p) => num(p[0])), ys = box.map((p) => num(p[1]));
      return { x: Math.min(...xs), y: Math.min(...ys), w: Math.max(...xs) - Math.min(...xs), h: Math.max(...ys) - Math.min(...ys) };
    }
    if (Array.isArray(box) && box.length === 4) return { x: box[0], y: box[1], w: box[2] - box[0], h: box[3] - box[1] };
    const x = num(box.x ?? box.left), y = num(box.y ?? box.top);
    const w = num(box.width ?? box.w), h = num(box.height ?? box.h);
    return x === null || y === null || w === null || h === null ? null : { x, y, w, h };
  }

  function personName(face, index) {
    const person = face.person ?? face.name;
    if (typeof person === "string" && person) return person;
    if (person && typeof person === "object") return person.label || person.name || _("face {number}", { number: index + 1 });
    return _("face {number}", { number: index + 1 });
  }

  function label(group, text, x, y, size, cls) {
    const t = svg("text", { x, y: Math.max(size, y - size * 0.3), "font-size": size, class: cls }, text);
    group.append(t);
  }

  // ---- image overlays ------------------------------------------------------------------------
  function drawImage() {
    const picture = document.getElementById("picture");
    const overlay = document.getElementById("overlay");
    const stage = document.getElementById("stage");
    const blurToggle = document.getElementById("blur");
    const faces = list(results.faces?.faces);
    const lines = list(results.ocr?.lines);
    const people = list(results.pose?.people);
    const nsfw = results.nsfw || {};
    // Only exposed intimate parts of a flagged picture, already chosen and named by the server (ui/results.py).
    const regions = list(view.nsfw_regions);
    const flagged = typeof nsfw.verdict === "string" && nsfw.verdict !== "safe";

    function draw() {
      const W = picture.naturalWidth || 1000, H = picture.naturalHeight || 1000;
      const stroke = Math.max(2, Math.round(Math.max(W, H) / 300));
      const font = Math.max(12, Math.round(Math.max(W, H) / 45));
      overlay.setAttribute("viewBox", `0 0 ${W} ${H}`);
      overlay.replaceChildren();
      const defs = svg("defs");
      const filter = svg("filter", { id: "blur-filter" });
      filter.append(svg("feGaussianBlur", { stdDeviation: Math.max(W, H) / 40 }));
      defs.append(filter);
      overlay.append(defs);

      const layers = {};
      for (const name of ["nsfw-blur", "nsfw", "pose", "ocr", "faces"]) {
        layers[name] = svg("g", { "data-layer": name, class: `layer layer-${name}`, "stroke-width": stroke });
        overlay.append(layers[name]);
      }

      faces.forEach((face, i) => {
        const r = rect(face.box);
        if (!r) return;
        layers.faces.append(svg("rect", { x: r.x * W, y: r.y * H, width: r.w * W, height: r.h * H }));
        label(layers.faces, personName(face, i), r.x * W, r.y * H, font, "face-name");
      });

      lines.forEach((line) => {
        const box = line.box;
        if (Array.isArray(box) && box.length >= 3 && Array.isArray(box[0])) {
          layers.ocr.append(svg("polygon", { points: box.map((p) => `${p[0] * W},${p[1] * H}`).join(" ") }));
        }
        const r = rect(box);
        if (r) {
          if (!(Array.isArray(box) && Array.isArray(box[0]))) {
            layers.ocr.append(svg("rect", { x: r.x * W, y: r.y * H, width: r.w * W, height: r.h * H }));
          }
          label(layers.ocr, String(line.text ?? ""), r.x * W, r.y * H, font * 0.8, "ocr-text");
        }
      });

      for (const person of people) {
        const marks = list(person.landmarks);
        const seen = (m) => m && num(m.x) !== null && num(m.y) !== null && (num(m.visibility) ?? 1) >= VISIBLE;
        for (const [a, b] of POSE_LINES) {
          if (seen(marks[a]) && seen(marks[b])) {
            layers.pose.append(svg("line", { x1: marks[a].x * W, y1: marks[a].y * H, x2: marks[b].x * W, y2: marks[b].y * H }));
          }
        }
        for (const m of marks) if (seen(m)) layers.pose.append(svg("circle", { cx: m.x * W, cy: m.y * H, r: stroke * 1.5 }));
      }

      const clip = svg("clipPath", { id: "nsfw-clip" });
      for (const region of regions) {
        const r = rect(region.box);
        if (!r) continue;
        const box = { x: r.x * W, y: r.y * H, width: r.w * W, height: r.h * H };
        clip.append(svg("rect", box));
        layers.nsfw.append(svg("rect", box));
        label(layers.nsfw, `${region.name} ${Math.round((num(region.score) ?? 0) * 100)}%`, box.x, box.y, font * 0.8, "nsfw-label");
      }
      defs.append(clip);
      // Flagged regions are covered with a blurred copy of themselves; with no regions the whole picture is.
      if (flagged && regions.length) {
        layers["nsfw-blur"].append(svg("image", { href: picture.currentSrc || picture.src, width: W, height: H,
          filter: "url(#blur-filter)", "clip-path": "url(#nsfw-clip)", preserveAspectRatio: "none" }));
      }
      applyToggles();
    }

    function applyToggles() {
      for (const box of document.querySelectorAll("#layers input[data-layer]")) {
        const layer = overlay.querySelector(`[data-layer="${box.dataset.layer}"]`);
        if (layer) layer.style.display = box.checked ? "" : "none";
      }
      const blurred = flagged && Boolean(blurToggle?.checked);
      const blurLayer = overlay.querySelector('[data-layer="nsfw-blur"]');
      if (blurLayer) blurLayer.style.display = blurred ? "" : "none";
      stage.classList.toggle("blurred", blurred && regions.length === 0);
    }

    const counts = { faces: faces.length, ocr: lines.length, pose: people.length, nsfw: regions.length };
    for (const box of document.querySelectorAll("#layers input[data-layer]")) {
      const n = counts[box.dataset.layer] || 0;
      box.parentElement.append(ML.el("span", { class: "count muted", text: ` (${n})` }));
      if (!n) box.parentElement.classList.add("empty");
      box.addEventListener("change", applyToggles);
    }
    blurToggle?.addEventListener("change", applyToggles);
    const parts = [ngettext("{n} face", "{n} faces", faces.length), ngettext("{n} text line", "{n} text lines", lines.length),
      ngettext("{n} pose", "{n} poses", people.length)];
    if (nsfw.verdict) parts.push(_("NSFW verdict: {verdict}", { verdict: nsfw.verdict }));
    document.getElementById("overlay-summary").textContent = parts.join(" · ");
    showText(lines.map((line) => String(line.text ?? "")).filter(Boolean));
    if (picture.complete && picture.naturalWidth) draw();
    else picture.addEventListener("load", draw);
  }

  function showText(texts) {
    const target = document.getElementById("found-text");
    if (!texts.length) return;
    target.replaceChildren(...texts.map((t) => ML.el("li", { text: t })));
  }

  // ---- video and audio -----------------------------------------------------------------------
  function drawMedia() {
    const player = document.getElementById("player");
    const segments = list(view.segments);
    const transcript = document.getElementById("transcript");
    const items = segments.map((s) => ML.el("li", {},
      ML.el("button", { type: "button", class: "seek", "data-start": s.start, onclick: () => seek(s.start), text: ML.clock(s.start),
        "aria-label": _("Play from {time}", { time: ML.clock(s.start) }) }),
      ML.el("span", { text: ` ${s.text}` })));
    transcript.replaceChildren(...items);

    function seek(time) {
      player.currentTime = Number(time) || 0;
      player.play().catch(() => {});
    }

    // Chapters and keyframe captions (drawn by the page) seek to where they start.
    for (const button of document.querySelectorAll("#summary .seek, #captions .seek")) {
      button.addEventListener("click", () => seek(button.dataset.start));
    }

    const timeline = document.getElementById("timeline");
    if (timeline) {
      const ranges = list(view.timeline?.ranges);
      const texts = [];
      const markers = () => {
        const duration = num(view.timeline?.duration) || player.duration || 0;
        timeline.querySelectorAll(".marker").forEach((m) => m.remove());
        if (!duration) return;
        const place = (start, end, cls, title) => {
          const m = ML.el("button", { type: "button", class: `marker ${cls}`, title, "aria-label": title, onclick: (e) => { e.stopPropagation(); seek(start); } });
          m.style.left = `${(start / duration) * 100}%`;
          m.style.width = `${Math.max(0.8, ((end - start) / duration) * 100)}%`;
          timeline.append(m);
        };
        for (const r of ranges) {
          if (r.faces > 0) place(r.start, r.end, "faces", ngettext("{n} face at {time}", "{n} faces at {time}", r.faces, { time: ML.clock(r.start) }));
          if (list(r.text).length) place(r.start, r.end, "text", _("text: {text}", { text: list(r.text).join(" / ") }));
        }
        for (const s of segments) place(s.start, s.end, "speech", _("speech: {text}", { text: s.text }));
      };
      for (const r of ranges) texts.push(...list(r.text).map((t) => `${ML.clock(r.start)} ${t}`));
      showText(texts);
      markers();
      player.addEventListener("loadedmetadata", markers);
      timeline.addEventListener("click", (e) => {
        const duration = num(view.timeline?.duration) || player.duration || 0;
        const box = timeline.getBoundingClientRect();
        seek(((e.clientX - box.left) / box.width) * duration);
      });
      player.addEventListener("timeupdate", () => {
        const duration = num(view.timeline?.duration) || player.duration || 0;
        if (duration) document.getElementById("cursor").style.left = `${(player.currentTime / duration) * 100}%`;
      });
    }
    player.addEventListener("timeupdate", () => {
      segments.forEach((s, i) => items[i].classList.toggle("active", player.currentTime >= s.start && player.currentTime < s.end));
    });
    const start = num(new URLSearchParams(location.search).get("t"));
    // A search hit opens the view at ?t=seconds; the metadata may already be there when this runs.
    if (start !== null && player.readyState >= 1) player.currentTime = start;
    else if (start !== null) player.addEventListener("loadedmetadata", () => { player.currentTime = start; }, { once: true });
  }

  // ---- live state while the analysis runs ---------------------------------------------------
  function follow() {
    if (view.upload.state === "done" || view.upload.state === "failed") return;
    const source = new EventSource("/events");
    source.addEventListener("message", (event) => {
      const change = JSON.parse(event.data);
      if (change.upload_id !== view.upload.id) return;
      if (change.kind === "step") {
        const chips = document.getElementById("steps");
        let chip = [...chips.children].find((c) => c.dataset.step === change.data.name);
        if (!chip) {
          const position = Number(change.data.position ?? 0);
          chip = ML.el("li", { "data-step": change.data.name, "data-position": String(position) });
          chips.insertBefore(chip, [...chips.children].find((c) => Number(c.dataset.position) > position) || null);
        }
        chip.className = `step state-${change.data.state}`;
        chip.textContent = `${change.data.name}: ${ML.name(change.data.state)}`;
      } else if (change.kind === "upload") {
        const badge = document.getElementById("state");
        badge.textContent = ML.name(change.data.state);
        badge.className = `state state-${change.data.state}`;
        // The finished analysis has all results: show them.
        if (change.data.state === "done" || change.data.state === "failed") { source.close(); location.reload(); }
      }
    });
  }

  // ---- the viewer's actions: previous/next, zoom, retry, delete with an undo window ----------
  const TEXT = JSON.parse(document.getElementById("result-text").textContent);
  const UNDO_MS = 8000;
  const notice = document.getElementById("notice");

  const tell = (message, undo) => ML.tell(notice, message, TEXT.undo, undo);

  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.target.closest("input, select, textarea, video, audio, [contenteditable]")) return;
    const link = document.getElementById({ ArrowLeft: "previous", ArrowRight: "next" }[event.key] || "");
    if (link) { event.preventDefault(); location.href = link.href; }
  });

  const zoom = document.getElementById("zoom");
  zoom?.addEventListener("click", () => {
    const zoomed = document.getElementById("stage").classList.toggle("zoomed");
    zoom.setAttribute("aria-pressed", String(zoomed));
    zoom.textContent = zoomed ? TEXT.zoom_out : TEXT.zoom_in;
  });

  const retry = document.getElementById("retry");
  retry?.addEventListener("click", async () => {
    retry.disabled = true;
    retry.textContent = TEXT.retrying;
    const reply = await ML.api(`/uploads/${view.upload.id}/retry`, { method: "POST" });
    if (reply.ok) { tell(TEXT.retry_started); location.reload(); return; }
    retry.disabled = false;
    tell(ML.format(TEXT.retry_refused, { error: reply.data?.error || reply.status }));
  });

  const remove = document.getElementById("delete");
  remove.addEventListener("click", () => {
    if (!confirm(TEXT.confirm_delete)) return;
    remove.disabled = true;
    const after = document.getElementById("next")?.href || document.getElementById("previous")?.href || "/uploads";
    let timer = null;
    const commit = async () => {
      window.removeEventListener("pagehide", commit);
      const reply = await ML.api(`/uploads/${view.upload.id}`, { method: "DELETE", keepalive: true });
      if (reply.ok || reply.status === 404) location.replace(after);
      else { remove.disabled = false; tell(ML.format(TEXT.delete_failed, { error: reply.data?.error || reply.status })); }
    };
    timer = setTimeout(commit, UNDO_MS);
    window.addEventListener("pagehide", commit);
    tell(TEXT.deleting, () => {
      clearTimeout(timer);
      window.removeEventListener("pagehide", commit);
      remove.disabled = false;
      tell(TEXT.undone);
    });
  });

  // The map's pin: placed from script, since the page's policy allows no inline style.
  const pin = document.querySelector("#map .pin");
  if (pin) { pin.style.left = `${pin.dataset.left}%`; pin.style.top = `${pin.dataset.top}%`; }

  if (view.media_type === "image") drawImage();
  else if (view.media_type === "video" || view.media_type === "audio") drawMedia();
  follow();
})();
