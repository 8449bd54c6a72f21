// People page: the persons the face index knows, with a rename; unavailable until identity exists.
"use strict";

(() => {
  const status = document.getElementById("people-status");
  const list = document.getElementById("people");

  // A person: {id, name, faces (a count or a list), uploads (a count), cover (one face)}.
  function personView(person) {
    const id = person.id ?? person.person_id;
    const name = ML.el("input", { type: "text", value: person.name || "", "aria-label": "name", placeholder: "unnamed" });
    const save = ML.el("button", { type: "submit", text: "Rename" });
    const note = ML.el("span", { class: "muted note" });
    const form = ML.el("form", { class: "rename" }, name, save, note);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      const reply = await ML.api(`/people/${encodeURIComponent(id)}`, { method: "PATCH", body: { name: name.value.trim() } });
      save.disabled = false;
      note.textContent = reply.ok ? "saved" : `not saved: ${reply.data?.error || `HTTP ${reply.status}`}`;
    });
    const faces = Array.isArray(person.faces) ? person.faces.length : Number(person.faces ?? person.face_count ?? 0);
    const uploads = Number(person.uploads ?? 0);
    const cover = person.cover?.upload_id
      ? ML.el("a", { class: "no-thumb", href: `/uploads/${encodeURIComponent(person.cover.upload_id)}`, text: "seen here" })
      : ML.el("div", { class: "no-thumb", text: "no face" });
    return ML.el("li", { class: "person", "data-id": id }, ML.el("div", { class: "faces" }, cover), form,
      ML.el("span", { class: "muted", text: `${faces} face${faces === 1 ? "" : "s"} in ${uploads} upload${uploads === 1 ? "" : "s"}` }));
  }

  async function load() {
    const reply = await ML.api("/people");
    if (reply.status === 404) {
      status.textContent = "The people index is not available yet: this installation has no face identity service.";
      status.className = "notice unavailable";
      return;
    }
    if (!reply.ok) {
      status.textContent = `Could not load people: ${reply.data?.error || `HTTP ${reply.status}`}`;
      status.className = "error";
      return;
    }
    const people = reply.data.people || reply.data.persons || (Array.isArray(reply.data) ? reply.data : []);
    status.textContent = people.length ? `${people.length} people` : "No faces have been grouped into people yet.";
    status.className = "muted";
    list.replaceChildren(...people.map(personView));
  }
  load();
})();
