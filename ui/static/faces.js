// Result view: name the people in a picture, or say a face is someone already known (moves it to them).
"use strict";

(() => {
  // Every sentence this part of the page shows, in one place, in the page's language (ML._).
  const { _ } = ML;
  const TEXT = {
    saved: (who) => _("saved: {name}", { name: who }),
    moved: (who) => _("moved to {name}", { name: who }),
    failed: (why) => _("not saved: {reason}", { reason: why }),
  };
  const list = document.getElementById("faces-here");
  if (!list) return;
  const view = JSON.parse(document.getElementById("view").textContent);
  const failure = (reply) => reply.data?.error || `HTTP ${reply.status}`;

  for (const item of list.querySelectorAll("li.face")) {
    const box = JSON.parse(item.dataset.box || "null");
    ML.faceCrop(item.querySelector(".crop"), { box, picture_url: view.source });
    const note = item.querySelector(".note");
    const link = item.querySelector(".person-name");
    item.querySelector("form.name-face").addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = event.target.elements.name.value.trim();
      const reply = await ML.api(`/people/${encodeURIComponent(item.dataset.person)}`, { method: "PATCH", body: { name } });
      note.textContent = reply.ok ? TEXT.saved(reply.data.label) : TEXT.failed(failure(reply));
      if (reply.ok) link.textContent = reply.data.label;
    });
    item.querySelector("select.move-to").addEventListener("change", async (event) => {
      const into = event.target.value;
      if (!into) return;
      const reply = await ML.api(`/faces/${encodeURIComponent(item.dataset.face)}/split`, { method: "POST", body: { person: into } });
      if (!reply.ok) { note.textContent = TEXT.failed(failure(reply)); event.target.value = ""; return; }
      item.dataset.person = reply.data.person.id;
      link.textContent = reply.data.person.label;
      link.href = `/people/${encodeURIComponent(reply.data.person.id)}`;
      note.textContent = TEXT.moved(reply.data.person.label);
    });
  }

  (async () => {
    const reply = await ML.api("/people?hidden=1");
    if (!reply.ok) return;
    for (const select of list.querySelectorAll("select.move-to")) {
      const own = select.closest("li").dataset.person;
      for (const person of reply.data.people || []) {
        if (person.id !== own) select.append(ML.el("option", { value: person.id, text: person.label }));
      }
    }
  })();
})();
