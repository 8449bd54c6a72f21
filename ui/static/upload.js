// Upload page: each dropped file gets a presigned POST form from the API and goes straight to the store,
// which holds it to the key, type and size the form names.
"use strict";

(() => {
  const { _, ngettext } = ML;
  const drop = document.getElementById("drop");
  const picker = document.getElementById("files");
  const queue = document.getElementById("queue");
  const maxBytes = Number(drop.dataset.maxBytes);

  function row(file) {
    const bar = ML.el("progress", { max: 100, value: 0, "aria-label": _("{name} sent", { name: file.name }) });
    const status = ML.el("span", { class: "status", text: _("waiting") });
    const item = ML.el("li", { class: "file" },
      ML.el("div", { class: "row-head" }, ML.el("span", { class: "name", text: file.name }),
        ML.el("span", { class: "muted", text: ML.bytes(file.size) }), status), bar);
    queue.prepend(item);
    return { item, bar, status };
  }

  function post(ticket, file, view) {
    const form = new FormData();
    for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
    form.append("file", file);  // the store reads every field before the file, so it goes last
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", ticket.url);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) view.bar.value = Math.round((event.loaded / event.total) * 100);
        view.status.textContent = `${view.bar.value}%`;
      });
      xhr.addEventListener("load", () => (xhr.status < 300 ? resolve() : reject(new Error(_("the store answered HTTP {status}", { status: xhr.status })))));
      xhr.addEventListener("error", () => reject(new Error(_("the store could not be reached (network or CORS)"))));
      xhr.send(form);
    });
  }

  async function send(file) {
    const view = row(file);
    if (file.size > maxBytes) {
      view.status.textContent = _("too large: up to {size}", { size: ML.bytes(maxBytes) });
      view.item.classList.add("failed");
      return;
    }
    try {
      const ticket = await ML.api("/uploads", { method: "POST", body: { filename: file.name, size: file.size, content_type: file.type } });
      if (!ticket.ok) throw new Error(ticket.data?.error || `HTTP ${ticket.status}`);
      view.status.textContent = _("uploading");
      await post(ticket.data, file, view);
      view.bar.value = 100;
      view.status.textContent = _("uploaded: analysing");
      view.item.classList.add("uploaded");
      view.item.dataset.key = ticket.data.key;
      view.item.append(ML.el("a", { href: "/uploads", class: "follow", text: _("follow its progress") }));
    } catch (error) {
      view.status.textContent = _("failed: {reason}", { reason: error.message });
      view.item.classList.add("failed");
    }
  }

  function sendAll(files) { for (const file of files) send(file); }

  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => sendAll(event.dataTransfer.files));
  picker.addEventListener("change", () => { sendAll(picker.files); picker.value = ""; });
  // Chromium opens a file picker on Space only; a keyboard user presses Enter on a button just as often.
  picker.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); picker.click(); }
  });
})();
