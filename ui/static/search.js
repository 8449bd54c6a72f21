// Search page: words (/search) with filters, an image dropped for its copies and similar ones (/search/image),
// a person's uploads. Exact matches and passages close in meaning are listed apart, each saying why it matched.
"use strict";

(() => {
  // Every sentence this page shows, in one place, in the page's language (ML._, ML.ngettext).
  const { _, ngettext } = ML;
  const percent = (score) => Math.round(score * 100);
  const TEXT = {
    searching: _("Searching…"),
    noService: _("The search index is not available yet: this installation has no search service."),
    failed: (why) => _("Search failed: {reason}", { reason: why }),
    found: (n, what) => _("{count} found for {what}", { count: n, what }),
    nothing: (what) => _("Nothing found for {what}.", { what }),
    notImage: (name) => _("{name} is not an image: drop a JPEG, PNG or WebP picture.", { name }),
    imagesLike: (name) => _("images like {name}", { name }),
    quoted: (query) => _("“{query}”", { query }),
    group: (title, n) => _("{title} ({count})", { title, count: n }),
    exactTitle: _("Exact matches"),
    similarTitle: _("Similar in meaning"),
    copiesTitle: _("Copies"),
    picturesTitle: _("Similar pictures"),
    whyExact: { ocr: _("the words are in the text on screen"), transcript: _("the words are said") },
    whyExactOther: _("the words appear"),
    whySimilar: (score) => _("close in meaning ({percent}%)", { percent: percent(score) }),
    badge: { identical: _("identical"), near: _("near-duplicate") },
    whyCopy: { exact: _("the same file"), near: _("the same picture, resized or re-encoded") },
    whyPicture: (score) => _("looks alike ({percent}%)", { percent: percent(score) }),
    faces: (n) => ngettext("{n} face", "{n} faces", n),
    uploads: (n) => ngettext("{n} upload", "{n} uploads", n),
  };

  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const drop = document.getElementById("image-drop");
  const file = document.getElementById("image-file");
  const preview = document.getElementById("image-preview");
  const picker = document.getElementById("person");
  const mediaType = document.getElementById("media-type");
  const since = document.getElementById("since");
  const until = document.getElementById("until");
  const status = document.getElementById("search-status");
  const notice = document.getElementById("search-notice");
  const results = document.getElementById("hits");

  const timeOf = (hit) => hit.time ?? hit.start ?? (Array.isArray(hit.times) ? hit.times[0] : undefined);

  function why(hit, kind) {
    if (kind === "copy") return TEXT.whyCopy[hit.match] || "";
    if (kind === "picture") return hit.score !== undefined ? TEXT.whyPicture(Number(hit.score)) : "";
    if (hit.match === "exact") return TEXT.whyExact[hit.source] || TEXT.whyExactOther;
    if (hit.match === "semantic") return TEXT.whySimilar(Number(hit.score) || 0);
    return Array.isArray(hit.faces) ? TEXT.faces(hit.faces.length) : "";
  }

  // A hit: upload_id, key, media_type, thumbnail, and a time (video, audio) the result view seeks to.
  function hitView(hit, kind) {
    const id = hit.upload_id;
    const time = timeOf(hit);
    const timed = time !== undefined && time !== null;
    const href = `/uploads/${encodeURIComponent(id)}` + (timed ? `?t=${time}` : "");
    const identical = hit.identical || (kind === "copy" && hit.match === "exact");
    const badge = identical ? TEXT.badge.identical : hit.near_duplicate || kind === "copy" ? TEXT.badge.near : "";
    const about = [timed ? ML.clock(time) : "", hit.text ? `“${hit.text}”` : ""].filter(Boolean).join(" · ");
    return ML.el("li", { class: `hit${kind === "copy" || badge ? " duplicate" : ""}`, "data-upload-id": id, "data-match": hit.match || kind },
      ML.el("a", { href },
        hit.thumbnail ? ML.el("img", { src: hit.thumbnail, alt: "", loading: "lazy" }) : ML.el("div", { class: "no-thumb", text: ML.name(hit.media_type || "") }),
        badge ? ML.el("span", { class: "badge", text: badge }) : null,
        ML.el("span", { class: "hit-name", text: String(hit.key || id || "").split("/").pop() }),
        ML.el("span", { class: "hit-why", text: why(hit, kind) }),
        about ? ML.el("span", { class: "hit-text", text: about }) : null));
  }

  function group(title, found, kind, name) {
    if (!found.length) return null;
    return ML.el("section", { class: "hit-group", "data-group": name },
      ML.el("h2", { text: TEXT.group(title, found.length) }),
      ML.el("ul", { class: "hits" }, found.map((hit) => hitView(hit, kind))));
  }

  // Shows a reply's groups ([title, hits, kind, name]); `what` names what was asked for in the status line.
  function show(reply, groups, what) {
    notice.hidden = true;
    if (reply.status === 404 && !reply.data?.error) {
      status.textContent = TEXT.noService;
      status.className = "notice unavailable";
      return;
    }
    if (!reply.ok) {
      status.textContent = TEXT.failed(reply.data?.error || `HTTP ${reply.status}`);
      status.className = "error";
      return;
    }
    const total = groups.reduce((n, g) => n + g[1].length, 0);
    status.className = "muted";
    status.textContent = total ? TEXT.found(total, what) : TEXT.nothing(what);
    if (reply.data?.notice) {
      notice.textContent = reply.data.notice;  // in the page's language: the API speaks the reader's
      notice.hidden = false;
    }
    results.replaceChildren(...groups.map(([title, found, kind, name]) => group(title, found || [], kind, name)).filter(Boolean));
  }

  function searching() {
    status.textContent = TEXT.searching;
    status.className = "muted";
    results.replaceChildren();
  }

  function filters() {
    const params = new URLSearchParams();
    if (mediaType.value) params.set("media_type", mediaType.value);
    if (picker.value) params.set("person", picker.value);
    if (since.value) params.set("since", since.value);
    if (until.value) params.set("until", until.value);
    return params;
  }

  async function byWords(query) {
    if (!query) return;
    searching();
    const params = filters();
    params.set("q", query);
    const reply = await ML.api(`/search?${params}`);
    const hits = reply.data?.hits || [];
    show(reply, [[TEXT.exactTitle, hits.filter((h) => h.match === "exact"), "text", "exact"],
      [TEXT.similarTitle, hits.filter((h) => h.match !== "exact"), "text", "similar"]], TEXT.quoted(query));
  }

  async function byImage(picked) {
    if (!picked) return;
    if (!picked.type.startsWith("image/")) {
      status.textContent = TEXT.notImage(picked.name);
      status.className = "error";
      return;
    }
    preview.src = URL.createObjectURL(picked);
    preview.hidden = false;
    searching();
    const body = new FormData();
    body.append("file", picked, picked.name);
    const reply = await ML.api("/search/image", { method: "POST", body });
    const copies = reply.data?.duplicates || [];
    const seen = new Set(copies.map((c) => c.upload_id));
    show(reply, [[TEXT.copiesTitle, copies, "copy", "copies"],
      [TEXT.picturesTitle, (reply.data?.hits || []).filter((h) => !seen.has(h.upload_id)), "picture", "pictures"]],
    TEXT.imagesLike(picked.name));
  }

  async function byPerson(id) {
    if (!id) return;
    searching();
    const reply = await ML.api(`/people/${encodeURIComponent(id)}/uploads`);
    const name = picker.selectedOptions[0]?.textContent || id;
    show(reply, [[name, reply.data?.uploads || [], "person", "person"]], name);
  }

  async function loadPeople() {
    const reply = await ML.api("/people");
    if (!reply.ok) return;
    for (const person of reply.data.people || []) {
      picker.append(ML.el("option", { value: person.id, text: `${person.label || person.name || person.id} (${TEXT.uploads(person.uploads)})` }));
    }
    const wanted = new URLSearchParams(location.search).get("person");
    if (wanted) picker.value = wanted;
  }

  function run() {
    const query = input.value.trim();
    const params = filters();
    if (query) params.set("q", query);
    history.replaceState(null, "", params.toString() ? `?${params}` : location.pathname);
    if (query) byWords(query);
    else byPerson(picker.value);
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  for (const control of [mediaType, since, until]) control.addEventListener("change", () => { if (input.value.trim()) run(); });
  picker.addEventListener("change", run);
  file.addEventListener("change", () => byImage(file.files[0]));
  file.addEventListener("keydown", (event) => {  // Enter opens the picker as Space does (Chromium: Space only)
    if (event.key === "Enter") { event.preventDefault(); file.click(); }
  });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    byImage(event.dataTransfer.files[0]);
  });
  const start = new URLSearchParams(location.search);
  mediaType.value = start.get("media_type") || "";
  since.value = start.get("since") || "";
  until.value = start.get("until") || "";
  loadPeople().then(() => { if (input.value.trim()) byWords(input.value.trim()); });
})();
