// The page at / (nsfw/web/page.py): a client of POST /v1/classify like any other, so it shows
// what the API answers, errors included. Everything is built with DOM calls and textContent:
// nothing the API, a URL or a file name says is ever parsed as HTML.
"use strict";

(() => {
  const CLASSES = ["drawings", "hentai", "neutral", "porn", "sexy"];
  const NSFW_CLASSES = new Set(["hentai", "porn", "sexy"]);
  const VERDICTS = {
    adult: "nsfw is at or above the adult threshold",
    safe: "nsfw is at or below the safe threshold",
    unknown: "between the thresholds: for a person to review",
  };

  const byId = (id) => document.getElementById(id);
  const fileInput = byId("file");
  const zone = byId("drop-zone");
  const urlForm = byId("url-form");
  const urlInput = byId("url");
  const keyInput = byId("api-key");
  const status = byId("status");
  const results = byId("results");

  let previews = []; // blob: URLs of the chosen files, one per file (null for a non-image)
  let pending = null; // the AbortController of the request whose answer the page shows next

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, String(value));
    }
    node.append(...children); // strings become text nodes
    return node;
  }

  const percent = (value) => `${(value * 100).toFixed(2)}%`;

  // --- sending -----------------------------------------------------------------------
  async function classify(body, label) {
    if (pending) pending.abort();
    const controller = (pending = new AbortController());
    const headers = { Accept: "application/json" };
    if (typeof body === "string") headers["Content-Type"] = "application/json";
    const key = keyInput.value.trim();
    if (key) headers["X-API-Key"] = key;
    status.textContent = `Classifying ${label}…`;
    results.setAttribute("aria-busy", "true");
    let answer;
    try {
      const response = await fetch("v1/classify", { method: "POST", body, headers, signal: controller.signal });
      const type = response.headers.get("Content-Type") || "";
      answer = { status: response.status, type, text: await response.text() };
    } catch (error) {
      if (controller.signal.aborted) return; // a newer request replaced this one
      answer = { failure: error.message || String(error) };
    }
    if (controller !== pending) return;
    pending = null;
    results.removeAttribute("aria-busy");
    show(answer);
  }

  function classifyFiles(list) {
    const files = Array.from(list);
    if (!files.length) return;
    previews.forEach((url) => url && URL.revokeObjectURL(url));
    // The preview is the chosen file itself, through a blob: URL: nothing is uploaded twice.
    previews = files.map((file) => (file.type.startsWith("image/") ? URL.createObjectURL(file) : null));
    const form = new FormData();
    files.forEach((file) => form.append("image", file, file.name || "pasted image"));
    classify(form, files.length === 1 ? files[0].name || "the pasted image" : `${files.length} files`);
  }

  function classifyUrl(url) {
    previews.forEach((blob) => blob && URL.revokeObjectURL(blob));
    previews = []; // no preview of a URL: the page loads nothing from other origins
    classify(JSON.stringify({ url }), url || "an empty URL");
  }

  // --- showing -----------------------------------------------------------------------
  function show(answer) {
    results.replaceChildren();
    if (answer.failure) {
      results.append(errorBox("No answer from the service", null, answer.failure));
      status.textContent = `No answer from the service: ${answer.failure}`;
      return;
    }
    let data = null;
    if (answer.type.includes("json")) {
      try {
        data = JSON.parse(answer.text);
      } catch {
        data = null;
      }
    }
    const ok = answer.status >= 200 && answer.status < 300;
    if (ok && data && Array.isArray(data.results)) {
      data.results.forEach((item, i) => {
        results.append(item.error ? errorBox(item.source, item.error.code, item.error.message) : resultCard(item, i));
      });
      status.textContent = data.results.map(summary).join("; ");
      return;
    }
    const title = `HTTP ${answer.status}`;
    if (data && data.error) {
      results.append(errorBox(title, data.error.code, data.error.message));
      status.textContent = `Error ${answer.status} ${data.error.code}: ${data.error.message}`;
    } else {
      const message = `the answer is not the API's JSON (${answer.type || "no Content-Type"})`;
      results.append(errorBox(title, null, message));
      status.textContent = `Error ${answer.status}: ${message}`;
    }
  }

  function summary(item) {
    if (item.error) return `${item.source}: error ${item.error.code}`;
    return `${item.source}: ${item.verdict}, nsfw ${percent(item.nsfw)}`;
  }

  function errorBox(title, code, message) {
    const box = el("article", { class: "error" }, el("h3", { text: title }));
    const line = el("p", {}, "Error");
    if (code) line.append(" ", el("code", { class: "error-code", text: code }));
    line.append(": ", el("span", { class: "error-message", text: message }));
    box.append(line);
    return box;
  }

  function resultCard(item, index) {
    const card = el("article", { class: "result" }, el("h3", { class: "source", text: item.source }));

    const head = el("div", { class: "result-head" });
    if (previews[index]) head.append(el("img", { class: "preview", src: previews[index], alt: `preview of ${item.source}` }));
    head.append(
      el(
        "div",
        {},
        el(
          "p",
          { class: `verdict verdict-${item.verdict}` },
          "Verdict: ",
          el("strong", { class: "verdict-value", text: item.verdict }),
          el("span", { class: "hint", text: ` (${VERDICTS[item.verdict] || "see the API documentation"})` }),
        ),
        el("p", { text: `nsfw (porn + hentai + sexy): ${percent(item.nsfw)}; top class: ${item.top}` }),
      ),
    );
    card.append(head);

    card.append(el("h4", { text: "Scores" }));
    const bars = el("ul", { class: "bars" });
    const names = [...CLASSES, ...Object.keys(item.scores).filter((name) => !CLASSES.includes(name))];
    for (const name of names) {
      if (!(name in item.scores)) continue;
      const value = item.scores[name];
      const id = `result-${index}-${name}`;
      const meter = el("meter", { id, "data-class": name, min: 0, max: 1, value });
      if (NSFW_CLASSES.has(name)) {
        // green when low, amber in between, red when high: the colours follow the verdict's thresholds
        Object.assign(meter, { low: 0.2, high: 0.8, optimum: 0 });
      }
      bars.append(
        el(
          "li",
          {},
          el("label", { for: id, text: name }),
          meter,
          el("span", { class: "value", "data-class": name, text: percent(value) }),
        ),
      );
    }
    card.append(bars);

    const categories = item.categories || {};
    card.append(el("h4", { text: "Categories (Swiss AI Center)" }));
    const cats = el("ul", { class: "categories" });
    for (const side of ["safe", "nsfw"]) {
      if (typeof categories[side] === "number") cats.append(el("li", { text: `${side}: ${percent(categories[side])}` }));
    }
    const subs = Object.entries(categories.subcategories || {}).sort((a, b) => b[1] - a[1]);
    if (subs.length) {
      cats.append(
        el(
          "li",
          {},
          "sub-categories: ",
          el("span", { class: "subcategories", text: subs.map(([name, v]) => `${name} ${percent(v)}`).join(", ") }),
        ),
      );
    }
    card.append(cats);

    card.append(el("h4", { text: "Image" }));
    const facts = el("dl", { class: "facts" });
    const fact = (term, value, cls) => facts.append(el("dt", { text: term }), el("dd", { class: cls || "", text: value }));
    if (item.image) fact("Format, size", `${item.image.format}, ${item.image.width} × ${item.image.height}`);
    const frames = item.frames > 1 ? `${item.frames}: the scores are those of the frame with the highest nsfw` : "1";
    fact("Frames classified", frames, "frames");
    fact("Model", item.model);
    fact("Cached", item.cached ? "yes: the same image was classified recently" : "no");
    const times = Object.entries(item.timing_ms || {}).map(([stage, ms]) => `${stage} ${ms.toFixed(1)} ms`);
    if (times.length) fact("Time", times.join(", "));
    card.append(facts);
    return card;
  }

  // --- input -------------------------------------------------------------------------
  fileInput.addEventListener("change", () => classifyFiles(fileInput.files));

  urlForm.addEventListener("submit", (event) => {
    event.preventDefault();
    classifyUrl(urlInput.value.trim());
  });

  // The whole window takes drops (a file dropped beside the zone must not make the browser
  // navigate away to it); the zone shows that a drop will be taken.
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) zone.classList.remove("over");
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const transfer = event.dataTransfer;
    if (transfer.files.length) {
      classifyFiles(transfer.files);
      return;
    }
    // an image dragged from another page arrives as its URL
    const uri = transfer
      .getData("text/uri-list")
      .split(/\r?\n/)
      .find((line) => line && !line.startsWith("#"));
    if (uri) {
      urlInput.value = uri;
      classifyUrl(uri);
    }
  });

  document.addEventListener("paste", (event) => {
    const files = Array.from(event.clipboardData ? event.clipboardData.files : []).filter((f) =>
      f.type.startsWith("image/"),
    );
    if (files.length) {
      event.preventDefault();
      classifyFiles(files);
    }
  });
})();
