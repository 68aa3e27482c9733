// The VM page's console: the guest's released console output, live from /api/vm/NAME/console/events.
// Each event carries its next offset as its id, so the browser's own reconnect goes on where it was.
"use strict";

(() => {
  const MaxShown = 256 * 1024; // characters kept on the page; older ones are dropped from the top
  const view = document.getElementById("console");
  const note = document.getElementById("console-note");
  const source = new EventSource(`/api/vm/${encodeURIComponent(vmName)}/console/events`);
  let shown = 0;

  function say(text) { note.textContent = text; }

  source.onmessage = event => {
    const piece = JSON.parse(event.data);
    const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 4;
    if (piece.skipped > 0) view.append(`\n[${piece.skipped} bytes no longer kept]\n`);
    if (piece.next < piece.start) view.append(`\n[the console went back to offset ${piece.next}: the VM was rebuilt from its journal]\n`);
    if (piece.text) view.append(piece.text);
    shown += piece.text.length;
    if (shown > MaxShown) {
      view.textContent = view.textContent.slice(-MaxShown);
      shown = view.textContent.length;
    }
    if (atBottom) view.scrollTop = view.scrollHeight;
    view.dataset.end = String(piece.next);
    say(piece.end === 0 ? "The guest has not written to its console yet."
      : `${piece.next} bytes so far${piece.keptFrom > 0 ? `; the first ${piece.keptFrom} are no longer kept` : ""}.`);
  };
  source.addEventListener("refused", event => {
    const refusal = JSON.parse(event.data);
    say(`Console: ${refusal.error}`);
    if (refusal.kind === "UnknownVm" || refusal.kind === "Stopped") source.close();
  });
  source.onerror = () => say("Console: reconnecting…");
})();
