// Search page: words (/search), an image dropped for similar ones (/search/image), a person's uploads.
"use strict";

(() => {
  const { _, ngettext } = ML;
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const drop = document.getElementById("image-drop");
  const file = document.getElementById("image-file");
  const preview = document.getElementById("image-preview");
  const picker = document.getElementById("person");
  const status = document.getElementById("search-status");
  const hits = document.getElementById("hits");

  const timeOf = (hit) => hit.time ?? hit.start ?? (Array.isArray(hit.times) ? hit.times[0] : undefined);

  // A hit: upload_id, key, media_type, thumbnail, and a time (video, audio) the result view seeks to.
  function hitView(hit) {
    const id = hit.upload_id;
    const time = timeOf(hit);
    const timed = time !== undefined && time !== null;
    const href = `/uploads/${encodeURIComponent(id)}` + (timed ? `?t=${time}` : "");
    const badge = hit.identical ? _("identical") : hit.near_duplicate ? _("near-duplicate") : "";
    const faces = Array.isArray(hit.faces) ? ngettext("{n} face", "{n} faces", hit.faces.length) : "";
    const about = [timed ? ML.clock(time) : "", hit.text || "", faces,
      hit.score !== undefined && !hit.text ? _("score {score}", { score: Number(hit.score).toFixed(2) }) : ""].filter(Boolean).join(" · ");
    return ML.el("li", { class: `hit${badge ? " duplicate" : ""}`, "data-upload-id": id },
      ML.el("a", { href },
        hit.thumbnail ? ML.el("img", { src: hit.thumbnail, alt: "", loading: "lazy" }) : ML.el("div", { class: "no-thumb", text: hit.media_type || "" }),
        badge ? ML.el("span", { class: "badge", text: badge }) : null,
        ML.el("span", { class: "hit-name", text: String(hit.key || id || "").split("/").pop() }),
        ML.el("span", { class: "hit-text", text: about })));
  }

  // Shows a reply; `what` names what was asked for in the status line.
  function show(reply, found, what) {
    if (reply.status === 404 && !found) {
      status.textContent = _("The search index is not available yet: this installation has no search service.");
      status.className = "notice unavailable";
      return;
    }
    if (!reply.ok) {
      status.textContent = _("Search failed: {reason}", { reason: reply.data?.error || `HTTP ${reply.status}` });
      status.className = "error";
      return;
    }
    found = found || [];
    status.className = "muted";
    status.textContent = found.length ? _("{count} found for {what}", { count: found.length, what }) : _("Nothing found for {what}.", { what });
    hits.replaceChildren(...found.map(hitView));
  }

  function searching() {
    status.textContent = _("Searching…");
    status.className = "muted";
    hits.replaceChildren();
  }

  async function byWords(query) {
    if (!query) return;
    searching();
    const reply = await ML.api(`/search?q=${encodeURIComponent(query)}`);
    show(reply, reply.data?.hits, _("“{query}”", { query }));
  }

  async function byImage(picked) {
    if (!picked) return;
    if (!picked.type.startsWith("image/")) {
      status.textContent = _("{name} is not an image: drop a JPEG, PNG or WebP picture.", { name: picked.name });
      status.className = "error";
      return;
    }
    preview.src = URL.createObjectURL(picked);
    preview.hidden = false;
    searching();
    const body = new FormData();
    body.append("file", picked, picked.name);
    const reply = await ML.api("/search/image", { method: "POST", body });
    show(reply, reply.data?.hits, _("images like {name}", { name: picked.name }));
  }

  async function byPerson(id) {
    if (!id) return;
    searching();
    const reply = await ML.api(`/people/${encodeURIComponent(id)}/uploads`);
    const name = picker.selectedOptions[0]?.textContent || id;
    show(reply, reply.data?.uploads, name);
  }

  async function loadPeople() {
    const reply = await ML.api("/people");
    if (!reply.ok) return;
    for (const person of reply.data.people || []) {
      const count = ngettext("{n} upload", "{n} uploads", person.uploads);
      const name = person.name || _("unnamed person {id}", { id: person.id });
      picker.append(ML.el("option", { value: person.id, text: `${name} (${count})` }));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = input.value.trim();
    history.replaceState(null, "", query ? `?q=${encodeURIComponent(query)}` : location.pathname);
    byWords(query);
  });
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
  picker.addEventListener("change", () => byPerson(picker.value));
  loadPeople();
  byWords(input.value.trim());
})();
