// People page: each person with their face thumbnails; rename, merge (tick several) and split (move a face out).
"use strict";

(() => {
  const { _, ngettext } = ML;
  const status = document.getElementById("people-status");
  const action = document.getElementById("people-action");
  const list = document.getElementById("people");
  const merge = document.getElementById("merge");
  const MARGIN = 0.15; // of the face box on each side, so a thumbnail shows a little of the head around it

  function said(text, failed) {
    action.textContent = text;
    action.className = failed ? "error" : "muted";
    action.hidden = false;
  }

  // The face's box (fractions of the picture) fills the square: the picture scaled and moved behind it.
  function crop(node, face) {
    const box = face.box || {};
    const w0 = Number(box.width) || 1, h0 = Number(box.height) || 1;
    const x = Math.max(0, (Number(box.x) || 0) - w0 * MARGIN), y = Math.max(0, (Number(box.y) || 0) - h0 * MARGIN);
    const w = Math.min(1 - x, w0 * (1 + 2 * MARGIN)), h = Math.min(1 - y, h0 * (1 + 2 * MARGIN));
    node.style.backgroundImage = `url("${face.picture_url}")`;
    node.style.backgroundSize = `${100 / w}% ${100 / h}%`;
    node.style.backgroundPosition = `${w < 1 ? (x / (1 - w)) * 100 : 0}% ${h < 1 ? (y / (1 - h)) * 100 : 0}%`;
    return node;
  }

  function faceView(face, canSplit, who) {
    const timed = face.time !== null && face.time !== undefined;
    const href = `/uploads/${encodeURIComponent(face.upload_id)}` + (timed ? `?t=${face.time}` : "");
    const label = timed ? _("Face of {name} at {time}", { name: who, time: ML.clock(face.time) }) : _("Face of {name}: open the picture", { name: who });
    const link = ML.el("a", { href, title: label, "aria-label": label });
    const split = canSplit
      ? ML.el("button", { type: "button", class: "split", title: _("this face is someone else: make it a person of its own"),
        "aria-label": _("Move this face of {name} out", { name: who }), text: _("Move out"), onclick: () => splitFace(face.id) })
      : null;
    return ML.el("div", { class: "face", "data-face": face.id }, face.picture_url ? crop(link, face) : link, split);
  }

  // A person from /people/<id>: {id, name, faces (a count), uploads (a count), members (each face)}.
  function personView(person) {
    const id = person.id;
    const name = ML.el("input", { type: "text", value: person.name || "", "aria-label": _("Name of this person"), placeholder: _("unnamed") });
    const save = ML.el("button", { type: "submit", text: _("Rename") });
    const note = ML.el("span", { class: "muted note" });
    const form = ML.el("form", { class: "rename" }, name, save, note);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      const reply = await ML.api(`/people/${encodeURIComponent(id)}`, { method: "PATCH", body: { name: name.value.trim() } });
      save.disabled = false;
      note.textContent = reply.ok ? _("saved") : _("not saved: {reason}", { reason: reply.data?.error || `HTTP ${reply.status}` });
    });
    const members = Array.isArray(person.members) ? person.members : [];
    const faces = members.length
      ? members.map((face) => faceView(face, members.length > 1, person.name || _("unnamed person {id}", { id })))
      : [ML.el("div", { class: "no-thumb", text: _("no face") })];
    const pick = ML.el("input", { type: "checkbox", class: "pick", value: id, "aria-label": _("select {name} to merge", { name: person.name || id }), onchange: picked });
    const count = Number(person.faces ?? 0), uploads = Number(person.uploads ?? 0);
    return ML.el("li", { class: "person", "data-id": id }, pick, ML.el("div", { class: "faces" }, faces), form,
      ML.el("span", { class: "muted", text: ngettext("{n} face", "{n} faces", count) + " " + ngettext("in {n} upload", "in {n} uploads", uploads) }));
  }

  const chosen = () => [...list.querySelectorAll("input.pick:checked")].map((box) => box.value);

  function picked() {
    merge.disabled = chosen().length < 2;
  }

  merge.addEventListener("click", async () => {
    const people = chosen();
    merge.disabled = true;
    const reply = await ML.api("/people/merge", { method: "POST", body: { into: people[0], people } });
    if (!reply.ok) {
      picked();
      said(_("Not merged: {reason}", { reason: reply.data?.error || `HTTP ${reply.status}` }), true);
      return;
    }
    await load();
    said(_("Merged {count} people into {name}.", { count: people.length, name: reply.data.name || reply.data.id }));
  });

  async function splitFace(face) {
    const reply = await ML.api(`/faces/${encodeURIComponent(face)}/split`, { method: "POST", body: {} });
    if (!reply.ok) {
      said(_("Not moved: {reason}", { reason: reply.data?.error || `HTTP ${reply.status}` }), true);
      return;
    }
    await load();
    said(_("Moved the face out: it is now {name}.", { name: reply.data.person.name || reply.data.person.id }));
  }

  async function load() {
    const reply = await ML.api("/people");
    if (reply.status === 404) {
      status.textContent = _("The people index is not available yet: this installation has no face identity service.");
      status.className = "notice unavailable";
      return;
    }
    if (!reply.ok) {
      status.textContent = _("Could not load people: {reason}", { reason: reply.data?.error || `HTTP ${reply.status}` });
      status.className = "error";
      return;
    }
    const people = reply.data.people || [];
    // Each person's faces, with the pictures they are in, for the thumbnails.
    const details = await Promise.all(people.map((p) => ML.api(`/people/${encodeURIComponent(p.id)}`)));
    const shown = people.map((p, i) => (details[i].ok ? details[i].data : p));
    status.textContent = people.length ? ngettext("{n} person", "{n} people", people.length) : _("No faces have been grouped into people yet.");
    status.className = "muted";
    list.replaceChildren(...shown.map(personView));
    picked();
  }
  load();
})();
