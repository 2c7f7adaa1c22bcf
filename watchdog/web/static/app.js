// Keeps an open status page current without a full reload: fetches the same page every
// data-refresh seconds and swaps <main>; says so plainly when the agent cannot be reached.
// No inline script (the CSP forbids it), no external code, nothing sent anywhere but this server.
"use strict";
(function () {
  const body = document.body;
  const every = Math.max(5, Number(body.dataset.refresh || 30)) * 1000;
  const lost = document.getElementById("lost");
  let lastOk = new Date();

  function stamp(d) {
    return d.toTimeString().slice(0, 8);
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("main");
      const main = document.getElementById("main");
      if (fresh && main) {
        const open = new Set();
        main.querySelectorAll("details").forEach((d, i) => { if (d.open) open.add(i); });
        main.replaceWith(fresh);
        fresh.querySelectorAll("details").forEach((d, i) => { if (open.has(i)) d.open = true; });
      }
      lastOk = new Date();
      lost.hidden = true;
    } catch (err) {
      lost.textContent = (body.dataset.lost || "Connection lost; data from {time}").replace("{time}", stamp(lastOk));
      lost.hidden = false;
    }
  }

  window.setInterval(refresh, every);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
