// The new-inspection page: a signature pad, and the form sent with fetch
// (the CSRF token as the X-CSRF-Token header), then the job's URL from the
// answer's Location polled every second until its reports are ready.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("inspection");
  const pad = document.getElementById("signature-pad");
  const state = document.getElementById("job-state");
  const reports = document.getElementById("reports");
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const ink = pad.getContext("2d");
  let drawing = false;

  pad.addEventListener("pointerdown", (e) => {
    drawing = true;
    ink.beginPath();
    ink.moveTo(e.offsetX, e.offsetY);
  });
  pad.addEventListener("pointermove", (e) => {
    if (drawing) {
      ink.lineTo(e.offsetX, e.offsetY);
      ink.stroke();
    }
  });
  window.addEventListener("pointerup", () => { drawing = false; });

  async function follow(jobUrl) {
    for (;;) {
      const answer = await fetch(jobUrl, { headers: { Accept: "application/json" } });
      const job = await answer.json();
      state.textContent = `Report: ${job.state}${job.stage ? ` (${job.stage})` : ""}`;
      if (job.state === "error") {
        state.textContent = `The report failed: ${job.error}`;
        return;
      }
      if (job.state === "done") {
        for (const [kind, href] of Object.entries(job.reports)) {
          const link = document.createElement("a");
          link.href = href;
          link.textContent = `Download the ${kind.toUpperCase()}`;
          const item = document.createElement("li");
          item.append(link);
          reports.append(item);
        }
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const files = [...form.elements.photos.files];
    form.elements.items.value = JSON.stringify([{
      title: document.getElementById("item-title").value,
      notes: document.getElementById("item-notes").value,
      photos: files.map((f) => f.name),
    }]);
    form.elements.signature.value = pad.toDataURL("image/png");
    const body = new FormData(form);
    // The token goes in the header, as for any script's request.
    body.delete("csrf_token");
    state.textContent = "Sending...";
    const answer = await fetch(form.action, {
      method: "POST",
      body,
      headers: { "X-CSRF-Token": token },
    });
    if (answer.status !== 202) {
      const why = await answer.json().catch(() => ({}));
      state.textContent = `Not sent: ${why.detail || answer.status}`;
      return;
    }
    await follow(answer.headers.get("Location"));
  });
});
