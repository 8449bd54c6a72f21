// People page: each person with their face thumbnails; name, hide, merge (tick several), move a face out, undo.
"use strict";

(() => {
  // Every sentence this page shows, in one place, in the page's language (ML._, ML.ngettext).
  const { _, ngettext } = ML;
  const TEXT = {
    saved: _("saved"),
    notSaved: (why) => _("not saved: {reason}", { reason: why }),
    moveOut: _("Move out"),
    moveOutTitle: _("this face is someone else: make it a person of its own"),
    moveOutOf: (who) => _("Move this face of {name} out", { name: who }),
    openPicture: _("open the picture"),
    at: (time) => _("at {time}", { time: ML.clock(time) }),
    faceOf: (who) => _("a face of {name}", { name: who }),
    noFace: _("no face"),
    unnamed: _("unnamed"),
    nameOf: (who) => _("name of {name}", { name: who }),
    rename: _("Name"),
    hide: _("Hide"),
    show: _("Show again"),
    hideTitle: _("leave this person out of the list (someone in the background)"),
    select: (who) => _("select {name} to merge", { name: who }),
    counts: (faces, uploads) => ngettext("{n} face", "{n} faces", faces) + " " + ngettext("in {n} upload", "in {n} uploads", uploads),
    notMerged: (why) => _("Not merged: {reason}", { reason: why }),
    merged: (n, who) => _("Merged {count} people into {name}.", { count: n, name: who }),
    notMoved: (why) => _("Not moved: {reason}", { reason: why }),
    movedOut: (who) => _("Moved the face out: it is now {name}.", { name: who }),
    hidden: (who) => _("{name} is hidden.", { name: who }),
    shown: (who) => _("{name} is shown again.", { name: who }),
    undo: (what) => _("Undo {what}", { what }),
    undone: (what) => _("Undone: {what}.", { what }),
    noService: _("The people index is not available yet: this installation has no face identity service."),
    failed: (why) => _("Could not load people: {reason}", { reason: why }),
    count: (n) => ngettext("{n} person", "{n} people", n),
    none: _("No faces have been grouped into people yet."),
  };
  const status = document.getElementById("people-status");
  const action = document.getElementById("people-action");
  const list = document.getElementById("people");
  const merge = document.getElementById("merge");
  const undo = document.getElementById("undo");
  const showHidden = document.getElementById("show-hidden");
  const failure = (reply) => reply.data?.error || `HTTP ${reply.status}`;

  function said(text, failed) {
    action.textContent = text;
    action.className = failed ? "error" : "muted";
    action.hidden = false;
  }

  function faceView(face, who, canSplit) {
    const timed = face.time !== null && face.time !== undefined;
    const href = `/uploads/${encodeURIComponent(face.upload_id)}` + (timed ? `?t=${face.time}` : "");
    const link = ML.el("a", { href, title: timed ? TEXT.at(face.time) : TEXT.openPicture, "aria-label": TEXT.faceOf(who) });
    const split = canSplit
      ? ML.el("button", { type: "button", class: "split", title: TEXT.moveOutTitle,
        "aria-label": TEXT.moveOutOf(who), text: TEXT.moveOut, onclick: () => splitFace(face.id) })
      : null;
    return ML.el("div", { class: "face", "data-face": face.id }, face.picture_url ? ML.faceCrop(link, face) : link, split);
  }

  // A person from /people/<id>: {id, name, label, hidden, faces (a count), uploads (a count), members (each face)}.
  function personView(person) {
    const id = person.id;
    const who = person.label || person.name || id;
    const name = ML.el("input", { type: "text", value: person.name || "", "aria-label": TEXT.nameOf(who), placeholder: TEXT.unnamed });
    const save = ML.el("button", { type: "submit", text: TEXT.rename });
    const note = ML.el("span", { class: "muted note" });
    const form = ML.el("form", { class: "rename" }, name, save, note);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      save.disabled = true;
      const reply = await ML.api(`/people/${encodeURIComponent(id)}`, { method: "PATCH", body: { name: name.value.trim() } });
      save.disabled = false;
      note.textContent = reply.ok ? TEXT.saved : TEXT.notSaved(failure(reply));
      if (reply.ok) { title.textContent = reply.data.label; await refreshUndo(); }
    });
    const hide = ML.el("button", { type: "button", class: "hide", title: TEXT.hideTitle, text: person.hidden ? TEXT.show : TEXT.hide,
      onclick: () => setHidden(person, !person.hidden) });
    const members = Array.isArray(person.members) ? person.members : [];
    const faces = members.length
      ? members.map((face) => faceView(face, who, members.length > 1))
      : [ML.el("div", { class: "no-thumb", text: TEXT.noFace })];
    const pick = ML.el("input", { type: "checkbox", class: "pick", value: id, "aria-label": TEXT.select(who), onchange: picked });
    const title = ML.el("a", { class: "person-name", href: `/people/${encodeURIComponent(id)}`, text: who });
    const count = Number(person.faces ?? 0), uploads = Number(person.uploads ?? 0);
    return ML.el("li", { class: `person${person.hidden ? " hidden-person" : ""}`, "data-id": id }, pick, title,
      ML.el("div", { class: "faces" }, faces), form, hide, ML.el("span", { class: "muted", text: TEXT.counts(count, uploads) }));
  }

  const chosen = () => [...list.querySelectorAll("input.pick:checked")].map((box) => box.value);

  function picked() {
    merge.disabled = chosen().length < 2;
  }

  function showUndo(what) {
    undo.hidden = !what;
    undo.textContent = what ? TEXT.undo(what) : "";
  }

  async function refreshUndo() {
    const reply = await ML.api(`/people?hidden=${showHidden.checked ? 1 : 0}`);
    if (reply.ok) showUndo(reply.data.undo);
  }

  merge.addEventListener("click", async () => {
    const people = chosen();
    merge.disabled = true;
    const reply = await ML.api("/people/merge", { method: "POST", body: { into: people[0], people } });
    if (!reply.ok) {
      picked();
      said(TEXT.notMerged(failure(reply)), true);
      return;
    }
    await load();
    said(TEXT.merged(people.length, reply.data.label || reply.data.id));
  });

  async function splitFace(face) {
    const reply = await ML.api(`/faces/${encodeURIComponent(face)}/split`, { method: "POST", body: {} });
    if (!reply.ok) {
      said(TEXT.notMoved(failure(reply)), true);
      return;
    }
    await load();
    said(TEXT.movedOut(reply.data.person.label || reply.data.person.id));
  }

  async function setHidden(person, hidden) {
    const reply = await ML.api(`/people/${encodeURIComponent(person.id)}`, { method: "PATCH", body: { hidden } });
    if (!reply.ok) { said(TEXT.notSaved(failure(reply)), true); return; }
    await load();
    said(hidden ? TEXT.hidden(reply.data.label) : TEXT.shown(reply.data.label));
  }

  undo.addEventListener("click", async () => {
    const reply = await ML.api("/people/undo", { method: "POST", body: {} });
    if (!reply.ok) { said(failure(reply), true); return; }
    await load();
    said(TEXT.undone(reply.data.undone));
  });
  showHidden.addEventListener("change", load);

  async function load() {
    const reply = await ML.api(`/people?hidden=${showHidden.checked ? 1 : 0}`);
    if (reply.status === 404) {
      status.textContent = TEXT.noService;
      status.className = "notice unavailable";
      return;
    }
    if (!reply.ok) {
      status.textContent = TEXT.failed(failure(reply));
      status.className = "error";
      return;
    }
    const people = reply.data.people || [];
    showUndo(reply.data.undo);
    // Each person's faces, with the pictures they are in, for the thumbnails.
    const details = await Promise.all(people.map((p) => ML.api(`/people/${encodeURIComponent(p.id)}`)));
    const shown = people.map((p, i) => (details[i].ok ? details[i].data : p));
    status.textContent = people.length ? TEXT.count(people.length) : TEXT.none;
    status.className = "muted";
    list.replaceChildren(...shown.map(personView));
    picked();
  }
  load();
})();
