// Uploads list: rows change live from the server-sent event stream; filters apply as events arrive.
"use strict";

(() => {
  const { _ } = ML;
  const list = document.getElementById("uploads");
  const empty = document.getElementById("empty");
  const live = document.getElementById("live");
  const filters = document.getElementById("filters");
  const stateFilter = filters.elements.state;
  const typeFilter = filters.elements.media_type;
  const resultBase = list.dataset.resultBase;

  function visible(row) {
    return (!stateFilter.value || row.dataset.state === stateFilter.value)
      && (!typeFilter.value || row.dataset.mediaType === typeFilter.value);
  }

  function applyFilters() {
    let shown = 0;
    for (const row of list.children) {
      row.hidden = !visible(row);
      if (!row.hidden) shown++;
    }
    empty.hidden = shown > 0;
  }

  function newRow(upload) {
    const name = String(upload.key || upload.id).split("/").pop();
    return ML.el("li", { class: "upload", id: `upload-${upload.id}`, "data-id": upload.id },
      ML.el("div", { class: "row-head" },
        ML.el("a", { class: "name", href: resultBase + upload.id, text: name }),
        ML.el("span", { class: "media", text: "…" }),
        ML.el("span", { class: "state", text: "" })),
      ML.el("ul", { class: "steps" }),
      ML.el("div", { class: "failure", hidden: true },
        ML.el("span", { class: "reason" }), ML.el("button", { type: "button", class: "retry", text: _("Retry") })));
  }

  function setUpload(upload) {
    let row = document.getElementById(`upload-${upload.id}`);
    if (!row) {
      row = newRow(upload);
      list.prepend(row);
    }
    row.dataset.state = upload.state;
    row.dataset.mediaType = upload.media_type || "";
    row.querySelector(".media").textContent = upload.media_type ? ML.name(upload.media_type) : "…";
    const badge = row.querySelector(".state");
    badge.textContent = ML.name(upload.state);
    badge.className = `state state-${upload.state}`;
    // A retried upload starts again with no steps.
    if (upload.state === "queued") row.querySelector(".steps").replaceChildren();
    const failure = row.querySelector(".failure");
    failure.hidden = upload.state !== "failed";
    failure.querySelector(".reason").textContent = upload.reason || "";
    row.hidden = !visible(row);
    empty.hidden = [...list.children].some((r) => !r.hidden);
  }

  function setStep(uploadId, step) {
    const row = document.getElementById(`upload-${uploadId}`);
    if (!row) return;
    const steps = row.querySelector(".steps");
    let chip = [...steps.children].find((c) => c.dataset.step === step.name);
    if (!chip) {
      chip = ML.el("li", { "data-step": step.name });
      steps.append(chip);
    }
    chip.className = `step state-${step.state}`;
    chip.textContent = `${step.name}: ${ML.name(step.state)}`;
    chip.title = step.reason || "";
  }

  function connect() {
    const source = new EventSource("/events");
    source.addEventListener("open", async () => {
      live.textContent = _("live");
      live.classList.add("on");
      // Changes made between rendering the page and (re)connecting were not streamed: catch up once.
      const reply = await ML.api("/uploads?limit=200");
      for (const upload of (reply.ok ? reply.data.uploads : []).reverse()) {
        setUpload(upload);
        for (const step of Object.values(upload.steps || {})) setStep(upload.id, step);
      }
    });
    source.addEventListener("error", () => { live.textContent = _("reconnecting…"); live.classList.remove("on"); });
    source.addEventListener("message", (event) => {
      const change = JSON.parse(event.data);
      if (change.kind === "upload") setUpload(change.data);
      else if (change.kind === "step") setStep(change.upload_id, change.data);
      else if (change.kind === "deleted") document.getElementById(`upload-${change.upload_id}`)?.remove();
    });
  }

  list.addEventListener("click", async (event) => {
    const button = event.target.closest("button.retry");
    if (!button) return;
    const row = button.closest(".upload");
    button.disabled = true;
    const reply = await ML.api(`/uploads/${row.dataset.id}/retry`, { method: "POST" });
    button.disabled = false;
    if (reply.ok) setUpload(reply.data);
    else row.querySelector(".reason").textContent = _("retry refused: {reason}", { reason: reply.data?.error || reply.status });
  });

  for (const select of [stateFilter, typeFilter]) {
    select.addEventListener("change", () => {
      applyFilters();
      const query = new URLSearchParams(new FormData(filters));
      for (const [k, v] of [...query]) if (!v) query.delete(k);
      history.replaceState(null, "", query.toString() ? `?${query}` : location.pathname);
    });
  }
  applyFilters();
  connect();
})();
