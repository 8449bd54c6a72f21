// One person's page: every upload (and time) they appear in, their faces, naming, hiding, moving faces, undo.
"use strict";

(() => {
  // Every sentence this page shows, in one place, in the page's language (ML._, ML.ngettext).
  const { _, ngettext } = ML;
  const TEXT = {
    failed: (why) => _("Could not load this person: {reason}", { reason: why }),
    counts: (faces, uploads) => ngettext("{n} face", "{n} faces", faces) + " " + ngettext("in {n} upload", "in {n} uploads", uploads),
    hide: _("Hide from the people list"),
    show: _("Show in the people list again"),
    hiddenNote: _("Hidden from the people list."),
    saved: (who) => _("Saved: this is {name}.", { name: who }),
    notSaved: (why) => _("Not saved: {reason}", { reason: why }),
    moveOut: _("Not this person"),
    thisIs: _("This is…"),
    movedOut: (who) => _("Moved the face out: it is now {name}.", { name: who }),
    movedTo: (who) => _("Moved the face to {name}.", { name: who }),
    notMoved: (why) => _("Not moved: {reason}", { reason: why }),
    undo: (what) => _("Undo {what}", { what }),
    undone: (what) => _("Undone: {what}.", { what }),
    at: (time) => _("at {time}", { time: ML.clock(time) }),
    faceOf: (who) => _("a face of {name}", { name: who }),
  };
  const title = document.getElementById("person-title");
  const id = title.dataset.id;
  const status = document.getElementById("person-status");
  const action = document.getElementById("person-action");
  const form = document.getElementById("person-name");
  const name = document.getElementById("name");
  const hide = document.getElementById("hide");
  const undo = document.getElementById("undo");
  const appears = document.getElementById("appears");
  const faces = document.getElementById("person-faces");
  const failure = (reply) => reply.data?.error || `HTTP ${reply.status}`;
  let person = null;
  let others = [];

  function said(text, failed) {
    action.textContent = text;
    action.className = failed ? "error" : "muted";
    action.hidden = false;
  }

  function uploadView(entry) {
    const times = Array.isArray(entry.times) ? entry.times : [];
    const href = `/uploads/${encodeURIComponent(entry.upload_id)}`;
    return ML.el("li", { class: "hit", "data-upload-id": entry.upload_id },
      ML.el("a", { href: times.length ? `${href}?t=${times[0]}` : href },
        entry.thumbnail ? ML.el("img", { src: entry.thumbnail, alt: "", loading: "lazy" }) : ML.el("div", { class: "no-thumb", text: ML.name(entry.media_type || "") }),
        ML.el("span", { class: "hit-name", text: String(entry.key || entry.upload_id).split("/").pop() })),
      times.length ? ML.el("span", { class: "hit-text" }, times.map((t, i) => [i ? ", " : "",
        ML.el("a", { href: `${href}?t=${t}`, class: "time", text: ML.clock(t) })])) : null);
  }

  function faceView(face) {
    const timed = face.time !== null && face.time !== undefined;
    const link = ML.el("a", { href: `/uploads/${encodeURIComponent(face.upload_id)}` + (timed ? `?t=${face.time}` : ""),
      title: timed ? TEXT.at(face.time) : "", "aria-label": TEXT.faceOf(person.label) });
    const pick = ML.el("select", { "aria-label": TEXT.thisIs, class: "move-to", onchange: (e) => moveFace(face.id, e.target.value) },
      ML.el("option", { value: "", text: TEXT.thisIs }),
      others.map((p) => ML.el("option", { value: p.id, text: p.label })));
    return ML.el("li", { class: "face", "data-face": face.id }, face.picture_url ? ML.faceCrop(link, face) : link,
      Number(person.faces) > 1 ? ML.el("button", { type: "button", class: "split", text: TEXT.moveOut, onclick: () => moveFace(face.id, "") }) : null,
      pick);
  }

  async function moveFace(face, into) {
    const reply = await ML.api(`/faces/${encodeURIComponent(face)}/split`, { method: "POST", body: into ? { person: into } : {} });
    if (!reply.ok) { said(TEXT.notMoved(failure(reply)), true); return; }
    // A person's last face moved away takes the person with it: follow the face.
    if (Number(person.faces) <= 1) { location.assign(`/people/${encodeURIComponent(reply.data.person.id)}`); return; }
    await load();
    said(into ? TEXT.movedTo(reply.data.person.label) : TEXT.movedOut(reply.data.person.label));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reply = await ML.api(`/people/${encodeURIComponent(id)}`, { method: "PATCH", body: { name: name.value.trim() } });
    if (!reply.ok) { said(TEXT.notSaved(failure(reply)), true); return; }
    await load();
    said(TEXT.saved(reply.data.label));
  });
  hide.addEventListener("click", async () => {
    const reply = await ML.api(`/people/${encodeURIComponent(id)}`, { method: "PATCH", body: { hidden: !person.hidden } });
    if (!reply.ok) { said(TEXT.notSaved(failure(reply)), true); return; }
    await load();
  });
  undo.addEventListener("click", async () => {
    const reply = await ML.api("/people/undo", { method: "POST", body: {} });
    if (!reply.ok) { said(failure(reply), true); return; }
    await load();
    said(TEXT.undone(reply.data.undone));
  });

  async function load() {
    const [one, uploads, everyone] = await Promise.all([ML.api(`/people/${encodeURIComponent(id)}`),
      ML.api(`/people/${encodeURIComponent(id)}/uploads`), ML.api("/people?hidden=1")]);
    if (!one.ok || !uploads.ok) {
      status.textContent = TEXT.failed(failure(one.ok ? uploads : one));
      status.className = "error";
      return;
    }
    person = one.data;
    if (person.id !== id) { location.replace(`/people/${encodeURIComponent(person.id)}`); return; }  // merged away
    others = (everyone.data?.people || []).filter((p) => p.id !== id);
    title.textContent = person.label;
    document.title = person.label;
    name.value = person.name || "";
    hide.textContent = person.hidden ? TEXT.show : TEXT.hide;
    status.textContent = TEXT.counts(Number(person.faces), Number(person.uploads)) + (person.hidden ? ` · ${TEXT.hiddenNote}` : "");
    status.className = "muted";
    undo.hidden = !everyone.data?.undo;
    undo.textContent = everyone.data?.undo ? TEXT.undo(everyone.data.undo) : "";
    appears.replaceChildren(...(uploads.data.uploads || []).map(uploadView));
    faces.replaceChildren(...(person.members || []).map(faceView));
  }
  load();
})();
