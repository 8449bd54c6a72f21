// Search page: asks /api/v1/search; says so plainly when the search index is not there yet.
"use strict";

(() => {
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const status = document.getElementById("search-status");
  const hits = document.getElementById("hits");

  // Hits may come as {results|hits: [...]} with upload_id, time/start, text, thumbnail: read what is there.
  function hitView(hit) {
    const id = hit.upload_id || hit.upload || hit.id;
    const time = hit.time ?? hit.start ?? hit.timestamp;
    const href = `/uploads/${encodeURIComponent(id)}` + (time !== undefined && time !== null ? `?t=${time}` : "");
    const thumb = hit.thumbnail || hit.thumbnail_url;
    return ML.el("li", { class: "hit" },
      ML.el("a", { href },
        thumb ? ML.el("img", { src: thumb, alt: "", loading: "lazy" }) : ML.el("div", { class: "no-thumb", text: hit.media_type || "" }),
        ML.el("span", { class: "hit-name", text: String(hit.key || id || "").split("/").pop() }),
        ML.el("span", { class: "hit-text", text: [time !== undefined && time !== null ? ML.clock(time) : "", hit.text || hit.snippet || hit.kind || ""].filter(Boolean).join(" · ") })));
  }

  async function run(query) {
    if (!query) return;
    status.textContent = "Searching…";
    hits.replaceChildren();
    const reply = await ML.api(`/search?q=${encodeURIComponent(query)}`);
    if (reply.status === 404 && !(reply.data && Array.isArray(reply.data.results || reply.data.hits))) {
      status.textContent = "The search index is not available yet: this installation has no search service.";
      status.className = "notice unavailable";
      return;
    }
    if (!reply.ok) {
      status.textContent = `Search failed: ${reply.data?.error || `HTTP ${reply.status}`}`;
      status.className = "error";
      return;
    }
    const found = reply.data.results || reply.data.hits || [];
    status.className = "muted";
    status.textContent = found.length ? `${found.length} found for “${query}”` : `Nothing found for “${query}”.`;
    hits.replaceChildren(...found.map(hitView));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = input.value.trim();
    history.replaceState(null, "", query ? `?q=${encodeURIComponent(query)}` : location.pathname);
    run(query);
  });
  run(input.value.trim());
})();
