// The library: a thumbnail grid grouped by day (taken, else uploaded), newest first, a page at a time
// from the indexed listing, filtered on the server, kept live by the server-sent event stream.
"use strict";

(() => {
  const TEXT = JSON.parse(document.getElementById("uploads-text").textContent);
  // Uploads a page holds: 48, or what the address asks for (?limit=), as the API allows.
  const PAGE = Math.min(Math.max(Number(new URLSearchParams(location.search).get("limit")) || 48, 1), 500);
  const UNDO_MS = 8000;
  const REPLY_TIMEOUT_MS = 20000;
  const library = document.getElementById("library");
  const filters = document.getElementById("filters");
  const empty = document.getElementById("empty");
  const noMatch = document.getElementById("no-match");
  const more = document.getElementById("more");
  const shown = document.getElementById("shown");
  const live = document.getElementById("live");
  const notice = document.getElementById("notice");
  const bulk = document.getElementById("bulk");
  const resultBase = library.dataset.resultBase;
  const FILTERS = ["state", "media_type", "person", "since", "until"];
  const SETTLED = new Set(["done", "failed", "skipped"]);

  let total = 0;
  let offset = 0;
  let loading = null;
  let generation = 0; // a reply to a request made under other filters is dropped
  // Replies that carry uploads (a listing, a retry) and streamed changes apply in the order they were asked
  // for or arrived: a change waits for every reply asked for before it, which may have been read before it
  // happened, and a reply waits for the changes that came before it was asked for. A reply that has not
  // come within REPLY_TIMEOUT_MS is given up, so nothing waits for good.
  const queue = [];

  const say = ML.format;
  function count(forms, n) { return say(forms[n === 1 ? 0 : 1], { n }); }

  function chosen() {
    const found = {};
    for (const name of FILTERS) if (filters.elements[name].value) found[name] = filters.elements[name].value;
    return found;
  }

  // A day in UTC, as the server's date filter reads days.
  function dayOf(upload) {
    return new Date(listedAt(upload) * 1000).toISOString().slice(0, 10);
  }
  function listedAt(upload) { return upload.taken_at ?? upload.listed_at ?? upload.created_at; }

  function group(day) {
    let section = library.querySelector(`section.day[data-day="${day}"]`);
    if (section) return section.querySelector("ul.grid");
    const heading = new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined,
      { timeZone: "UTC", weekday: "short", year: "numeric", month: "long", day: "numeric" });
    section = ML.el("section", { class: "day", "data-day": day },
      ML.el("h2", { text: heading }), ML.el("ul", { class: "grid uploads" }));
    const later = [...library.children].find((s) => s.dataset.day < day);
    library.insertBefore(section, later || null);
    return section.querySelector("ul.grid");
  }

  function summaryLine(upload) {
    const overview = upload.overview || {};
    const parts = ["faces", "people", "text_lines", "spoken_segments"]
      .filter((name) => overview[name]).map((name) => count(TEXT[name], overview[name]));
    if (parts.length) return parts.join(" · ");
    return upload.state === "done" ? TEXT.nothing_found : "";
  }

  function typeOf(upload) {
    if (upload.media_type) return TEXT.types[upload.media_type] || upload.media_type;
    return upload.state === "failed" ? TEXT.types.unreadable : TEXT.types[""];
  }

  function card(upload) {
    const path = upload.path || upload.key || upload.id;
    const slash = path.lastIndexOf("/");
    const name = path.slice(slash + 1);
    const href = resultBase + upload.id;
    return ML.el("li", { class: "upload", id: `upload-${upload.id}`, "data-id": upload.id },
      ML.el("label", { class: "pick" },
        ML.el("input", { type: "checkbox", class: "pick", "aria-label": say(TEXT.select, { name }) })),
      ML.el("a", { class: "thumb", href, tabindex: "-1", "aria-hidden": "true" }),
      ML.el("div", { class: "card-body" },
        ML.el("a", { class: "name", href, title: path, text: name }),
        slash > 0 ? ML.el("span", { class: "folder muted", text: path.slice(0, slash) + "/" }) : null,
        ML.el("div", { class: "meta muted" },
          ML.el("span", { class: "media" }), ML.el("span", { class: "duration" }), ML.el("span", { class: "size" }),
          ML.el("span", { class: "state" })),
        ML.el("progress", { class: "progress", max: "1", value: "0" }),
        ML.el("p", { class: "summary" }),
        ML.el("div", { class: "failure", hidden: true },
          ML.el("span", { class: "reason" }),
          ML.el("button", { type: "button", class: "retry", text: TEXT.retry }),
          ML.el("span", { class: "retry-note muted" })),
        ML.el("details", { class: "step-details" },
          ML.el("summary", { class: "steps-toggle" }), ML.el("ul", { class: "steps" }))));
  }

  function place(row, upload) {
    const at = listedAt(upload);
    row.dataset.listedAt = String(at);
    const grid = group(dayOf(upload));
    if (row.parentElement === grid) return;
    const oldGrid = row.parentElement;
    const before = [...grid.children].find((other) => Number(other.dataset.listedAt) < at);
    grid.insertBefore(row, before || null);
    if (oldGrid && !oldGrid.children.length) oldGrid.closest("section.day").remove();
  }

  function setUpload(upload) {
    let row = document.getElementById(`upload-${upload.id}`);
    if (!row) row = card(upload);
    place(row, upload);
    row.dataset.state = upload.state;
    row.dataset.mediaType = upload.media_type || "";
    const type = typeOf(upload);
    row.querySelector(".media").textContent = type;
    row.querySelector(".duration").textContent = upload.duration ? ML.clock(upload.duration).replace(/\.\d$/, "") : "";
    row.querySelector(".size").textContent = upload.size ? ML.bytes(upload.size) : "";
    const badge = row.querySelector(".state");
    badge.textContent = TEXT.states[upload.state] || upload.state;
    badge.className = `state state-${upload.state}`;
    if (upload.thumbnail !== undefined) {
      const thumb = row.querySelector(".thumb");
      const img = thumb.querySelector("img");
      if (upload.thumbnail && (!img || img.dataset.source !== upload.thumbnail)) {
        thumb.replaceChildren(ML.el("img", { src: upload.thumbnail, alt: "", loading: "lazy", "data-source": upload.thumbnail }));
      } else if (!upload.thumbnail) {
        thumb.replaceChildren(ML.el("span", { class: "placeholder", text: type }));
      }
    }
    row.querySelector(".summary").textContent = summaryLine(upload);
    // A retried upload starts again with no steps.
    if (upload.state === "queued") row.querySelector(".steps").replaceChildren();
    if (upload.steps) for (const step of Object.values(upload.steps)) setStep(upload.id, step);
    const failure = row.querySelector(".failure");
    failure.hidden = upload.state !== "failed";
    failure.querySelector(".reason").textContent = upload.reason || "";
    // Whether a retry can help is the pipeline's to say: a change streamed live does not carry it, so
    // the listing is asked (and until it answers, no retry is offered).
    if ("retryable" in upload) row.dataset.retryable = String(upload.retryable);
    else if (upload.state === "failed") {
      row.dataset.retryable = "unknown";
      askRetryable(upload);
    }
    const known = row.dataset.retryable;
    failure.querySelector(".retry").hidden = known !== "true";
    failure.querySelector(".retry-note").textContent = known === "false" ? TEXT.cannot_retry : "";
    showProgress(row);
    return row;
  }

  function askRetryable(upload) {
    return fromServer(`/uploads?${new URLSearchParams({ key: upload.key })}`, (reply) => {
      const found = reply.ok ? reply.data.uploads.find((item) => item.id === upload.id) : null;
      if (found && document.getElementById(`upload-${upload.id}`)) setUpload(found);
    });
  }

  function drain() {
    while (queue.length && queue[0].ready) {
      const item = queue.shift();
      try { item.run(); } catch (error) { setTimeout(() => { throw error; }); }
    }
  }

  // Asks the API and hands the reply to `use` in its turn, then resolves; a reply that did not come is a
  // failed one.
  function fromServer(path, use, options = {}) {
    return new Promise((resolve) => {
      const slot = { ready: false, run: null };
      queue.push(slot);
      ML.api(path, { timeout: REPLY_TIMEOUT_MS, ...options }).catch(() => null).then((answer) => {
        const failed = !answer || (answer.ok && !answer.data);
        const reply = failed ? { status: 0, ok: false, data: { error: TEXT.no_answer } } : answer;
        slot.run = () => { try { use(reply); } finally { resolve(); } };
        slot.ready = true;
        drain();
      });
    });
  }

  function showProgress(row) {
    const chips = [...row.querySelectorAll(".steps .step")];
    const settled = chips.filter((chip) => SETTLED.has(chip.dataset.state)).length;
    const bar = row.querySelector(".progress");
    const busy = row.dataset.state === "queued" || row.dataset.state === "running";
    bar.hidden = !busy;
    bar.value = chips.length ? settled / chips.length : 0;
    row.querySelector(".steps-toggle").textContent = say(TEXT.steps, { n: chips.length });
    row.querySelector(".step-details").hidden = !chips.length;
  }

  function setStep(uploadId, step) {
    const row = document.getElementById(`upload-${uploadId}`);
    if (!row) return;
    const steps = row.querySelector(".steps");
    let chip = [...steps.children].find((c) => c.dataset.step === step.name);
    if (!chip) {
      chip = ML.el("li", { "data-step": step.name, "data-position": String(step.position ?? 0) });
      const after = [...steps.children].find((c) => Number(c.dataset.position) > Number(step.position ?? 0));
      steps.insertBefore(chip, after || null);
    }
    chip.dataset.state = step.state;
    chip.className = `step state-${step.state}`;
    chip.textContent = `${step.name}: ${step.state}`;
    chip.title = step.reason || "";
    showProgress(row);
  }

  function showCounts() {
    const cards = library.querySelectorAll("li.upload").length;
    const filtered = Object.keys(chosen()).length > 0;
    empty.hidden = cards > 0 || filtered;
    noMatch.hidden = cards > 0 || !filtered;
    more.hidden = offset >= total;
    more.textContent = TEXT.load_more;
    shown.textContent = cards ? say(TEXT.shown, { shown: cards, total: Math.max(total, cards) }) : "";
  }

  async function loadPage() {
    if (loading) return loading;
    const mine = generation;
    more.disabled = true;
    more.textContent = TEXT.loading;
    const query = new URLSearchParams({ ...chosen(), offset: String(offset), limit: String(PAGE) });
    loading = fromServer(`/uploads?${query}`, (reply) => {
      if (mine !== generation) return;
      if (!reply.ok) {
        shown.textContent = say(TEXT.load_failed, { error: reply.data?.error || reply.status });
        return;
      }
      total = reply.data.total;
      offset += reply.data.uploads.length;
      for (const upload of reply.data.uploads) setUpload(upload);
      if (!reply.data.uploads.length) offset = total;
    }).finally(() => {
      loading = null;
      more.disabled = false;
      showCounts();
      if (mine === generation) watchEnd();
    });
    return loading;
  }

  function reload() {
    generation++;
    loading = null;
    offset = 0;
    total = 0;
    library.replaceChildren();
    selectionChanged();
    return loadPage();
  }

  // A live change shows only where it belongs: the server filters what is listed, a new upload has no
  // person yet and is dated now, so it joins only a list its state and type fit.
  function fits(upload) {
    const wanted = chosen();
    if (wanted.person) return false;
    if (wanted.state && upload.state !== wanted.state) return false;
    if (wanted.media_type && upload.media_type !== wanted.media_type) return false;
    const day = dayOf(upload);
    return !(wanted.since && day < wanted.since) && !(wanted.until && day > wanted.until);
  }

  // An upload older than the last one shown, while more pages wait, comes with its page.
  function beyondLoaded(upload) {
    const cards = [...library.querySelectorAll("li.upload")];
    const oldest = Math.min(...cards.map((card) => Number(card.dataset.listedAt)));
    return offset < total && cards.length > 0 && listedAt(upload) < oldest;
  }

  function changed(upload) {
    const row = document.getElementById(`upload-${upload.id}`);
    if (row && !fits(upload)) {
      row.remove();
      library.querySelectorAll("section.day").forEach((s) => { if (!s.querySelector("li.upload")) s.remove(); });
    } else if (row || (fits(upload) && !beyondLoaded(upload))) {
      if (!row) total++;
      setUpload(upload);
    }
    showCounts();
  }

  function apply(change) {
    if (change.kind === "upload") changed(change.data);
    else if (change.kind === "step") setStep(change.upload_id, change.data);
    else if (change.kind === "deleted") removeCard(change.upload_id);
  }

  function connect() {
    const source = new EventSource("/events");
    // After a reconnect only the latest catch-up listing counts.
    let catchUps = 0;
    // "ready", not "open": a server with every stream taken opens the connection only to say "later".
    source.addEventListener("ready", () => {
      live.textContent = TEXT.live;
      live.classList.add("on");
      // Changes made between loading the list and (re)connecting were not streamed: catch up once.
      const mine = ++catchUps;
      const query = new URLSearchParams({ ...chosen(), limit: String(Math.max(offset, PAGE)) });
      fromServer(`/uploads?${query}`, (reply) => {
        if (mine === catchUps && reply.ok) for (const upload of reply.data.uploads) {
          if (document.getElementById(`upload-${upload.id}`)) setUpload(upload);
        }
      });
    });
    source.addEventListener("error", () => { live.textContent = TEXT.reconnecting; live.classList.remove("on"); });
    source.addEventListener("message", (event) => {
      const change = JSON.parse(event.data);
      queue.push({ ready: true, run: () => apply(change) });
      drain();
    });
  }

  function removeCard(id) {
    const row = document.getElementById(`upload-${id}`);
    if (!row) return;
    const section = row.closest("section.day");
    row.remove();
    total = Math.max(0, total - 1);
    offset = Math.max(0, offset - 1);
    if (section && !section.querySelector("li.upload")) section.remove();
    selectionChanged();
    showCounts();
  }

  const tell = (message, undo) => ML.tell(notice, message, TEXT.undo, undo);

  library.addEventListener("click", async (event) => {
    const button = event.target.closest("button.retry");
    if (!button) return;
    const row = button.closest(".upload");
    const note = row.querySelector(".retry-note");
    button.disabled = true;
    button.textContent = TEXT.retrying;
    await fromServer(`/uploads/${row.dataset.id}/retry`, (reply) => {
      button.disabled = false;
      button.textContent = TEXT.retry;
      if (reply.ok) {
        setUpload(reply.data);
        tell(TEXT.retry_started);
      } else if (!reply.status) {
        note.textContent = TEXT.retry_unknown;
      } else {
        note.textContent = say(TEXT.retry_refused, { error: reply.data?.error || reply.status });
      }
    }, { method: "POST" });
  });

  // Bulk actions over the selected cards.
  function selected() {
    return [...library.querySelectorAll("li.upload input.pick:checked")].map((box) => box.closest("li.upload"));
  }

  function selectionChanged() {
    const rows = selected();
    bulk.hidden = !rows.length;
    document.getElementById("bulk-count").textContent = count(TEXT.selected, rows.length);
    library.querySelectorAll("li.upload").forEach((row) => row.classList.toggle("picked", row.querySelector("input.pick").checked));
  }
  library.addEventListener("change", (event) => { if (event.target.matches("input.pick")) selectionChanged(); });

  document.getElementById("bulk-clear").addEventListener("click", () => {
    library.querySelectorAll("input.pick:checked").forEach((box) => { box.checked = false; });
    selectionChanged();
  });

  document.getElementById("bulk-download").addEventListener("click", () => {
    const ids = selected().map((row) => row.dataset.id);
    location.href = `/api/v1/uploads/archive?${new URLSearchParams({ ids: ids.join(",") })}`;
  });

  document.getElementById("bulk-reprocess").addEventListener("click", async () => {
    const ids = selected().map((row) => row.dataset.id);
    const reply = await ML.api("/uploads/reprocess", { method: "POST", body: { upload_ids: ids } });
    if (reply.ok) tell(count(TEXT.reprocessing, reply.data.reprocessing.length));
    else tell(reply.data?.error || String(reply.status));
  });

  // Delete: asked once, then an undo window before anything is gone for good.
  document.getElementById("bulk-delete").addEventListener("click", () => {
    const rows = selected();
    if (!rows.length || !confirm(count(TEXT.confirm_delete, rows.length))) return;
    for (const row of rows) row.hidden = true;
    let timer = null;
    const undo = () => {
      clearTimeout(timer);
      for (const row of rows) row.hidden = false;
      tell(TEXT.undone);
    };
    const commit = async () => {
      window.removeEventListener("pagehide", commit);
      const failures = [];
      for (const row of rows) {
        const reply = await ML.api(`/uploads/${row.dataset.id}`, { method: "DELETE", keepalive: true });
        if (reply.ok || reply.status === 404) removeCard(row.dataset.id);
        else {
          row.hidden = false;
          failures.push(say(TEXT.delete_failed, { name: row.querySelector("a.name").textContent, error: reply.data?.error || reply.status }));
        }
      }
      tell(failures.length ? failures.join(" ") : count(TEXT.deleted, rows.length - failures.length));
    };
    timer = setTimeout(commit, UNDO_MS);
    window.addEventListener("pagehide", commit);
    const cancel = () => { window.removeEventListener("pagehide", commit); undo(); };
    tell(count(TEXT.deleting, rows.length), cancel);
    for (const row of rows) row.querySelector("input.pick").checked = false;
    selectionChanged();
  });

  // Filters apply on the server; the address keeps them, so a reload or a link shows the same list.
  for (const name of FILTERS) {
    filters.elements[name].addEventListener("change", () => {
      const query = new URLSearchParams(chosen());
      history.replaceState(null, "", query.toString() ? `?${query}` : location.pathname);
      reload();
    });
  }
  document.getElementById("clear-filters").addEventListener("click", () => {
    for (const name of FILTERS) filters.elements[name].value = "";
    history.replaceState(null, "", location.pathname);
    reload();
  });

  async function loadPeople() {
    const select = filters.elements.person;
    const reply = await ML.api("/people");
    if (!reply.ok) {
      select.closest("label").hidden = !select.dataset.chosen;
      return;
    }
    select.replaceChildren(select.options[0]);
    for (const person of reply.data.people || []) {
      select.append(ML.el("option", { value: person.id, text: person.name || person.id }));
    }
    select.value = select.dataset.chosen || "";
  }

  more.addEventListener("click", loadPage);
  // Infinite scroll: the next page loads while the end of the list is in view (or near it).
  const end = more.parentElement;
  const watcher = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && offset < total && !loading) loadPage();
  }, { rootMargin: "400px" });
  // Observed afresh after each page: the end may still be in view, and only a change is reported.
  function watchEnd() { watcher.unobserve(end); watcher.observe(end); }

  const chosenPerson = filters.elements.person.dataset.chosen;
  if (chosenPerson) filters.elements.person.append(ML.el("option", { value: chosenPerson, text: chosenPerson }));
  filters.elements.person.value = chosenPerson || "";
  loadPeople();
  reload().then(connect);
})();
