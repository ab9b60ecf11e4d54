// The review pages (nsfw/web/review_page.py). Deciding works without this script: the buttons are
// real form buttons. It adds the keyboard (a adult, s safe, k skip, u undo, r reveal) and the
// click that unblurs a thumbnail; a key only ever clicks the page's own button, so what a key does
// is exactly what that button does.
"use strict";

(() => {
  const KEYS = { a: "decide-adult", s: "decide-safe", k: "skip", u: "undo", r: "reveal" };
  const reveal = document.getElementById("reveal");
  let sent = false; // one decision per page: a held-down key must not decide the next item too

  function toggleReveal() {
    const shown = reveal.getAttribute("aria-pressed") !== "true";
    reveal.setAttribute("aria-pressed", String(shown));
    reveal.classList.toggle("blurred", !shown);
    reveal.querySelector(".thumb-label").textContent = shown ? "Blur again (r)" : "Reveal (r)";
  }

  if (reveal) reveal.addEventListener("click", toggleReveal);

  document.addEventListener("submit", (event) => {
    if (event.target.method.toLowerCase() === "post") {
      if (sent) event.preventDefault();
      sent = true;
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const id = KEYS[event.key];
    const button = id && document.getElementById(id);
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  });
})();
