"use strict";
// The inspector's form: photos uploaded one per request (three at a time),
// then the submission as JSON, then the job's status polled every second
// until its reports can be downloaded.

const UPLOADS_AT_ONCE = 3;
const POLL_EVERY_MS = 1000;
const POLL_AT_MOST = 900; // 15 minutes

function signaturePad(canvas) {
  const ctx = canvas.getContext("2d");
  ctx.lineWidth = 2;
  ctx.lineCap = "round";
  let drawing = false;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    ctx.beginPath();
    ctx.moveTo(...at(e));
  });
  canvas.addEventListener("pointermove", (e) => {
    if (drawing) {
      ctx.lineTo(...at(e));
      ctx.stroke();
    }
  });
  for (const end of ["pointerup", "pointerleave"]) {
    canvas.addEventListener(end, () => { drawing = false; });
  }
  return () => canvas.toDataURL("image/png");
}

async function answer(response, what) {
  const body = await response.json();
  if (!response.ok) {
    throw new Error(`${what}: ${body.error ? body.error.message : response.status}`);
  }
  return body;
}

async function uploadPhoto(file) {
  const form = new FormData();
  form.append("photo", file);
  const response = await fetch("/api/photos", { method: "POST", body: form });
  return (await answer(response, `photo ${file.name}`)).url;
}

async function uploadAll(files, show) {
  const urls = new Array(files.length);
  let next = 0;
  let done = 0;
  async function worker() {
    while (next < files.length) {
      const i = next++;
      urls[i] = await uploadPhoto(files[i]);
      show(`Uploaded ${++done} of ${files.length} photos`);
    }
  }
  const workers = Math.min(UPLOADS_AT_ONCE, files.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return urls;
}

async function waitForReports(statusUrl, show) {
  for (let n = 0; n < POLL_AT_MOST; n++) {
    const job = await answer(await fetch(statusUrl), "status");
    show(`Report ${job.status} (${job.progress}%)`);
    if (job.status === "completed" || job.status === "failed") {
      return job;
    }
    await new Promise((r) => setTimeout(r, POLL_EVERY_MS));
  }
  throw new Error("the report took too long");
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("inspection");
  const signatures = {
    inspector: signaturePad(document.getElementById("sig-inspector")),
    client: signaturePad(document.getElementById("sig-client")),
  };
  const state = document.getElementById("state");
  const show = (text) => { state.textContent = text; };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = form.elements;
    form.querySelector("button").disabled = true;
    document.getElementById("progress").hidden = false;
    try {
      const photoUrls = await uploadAll(Array.from(f.photos.files), show);
      const submission = {
        site: {
          name: f.name.value, address: f.address.value, client: f.client.value,
          inspector: f.inspector.value, date: f.date.value,
        },
        items: [{
          asset: f.asset.value, system: f.system.value, description: f.description.value,
          quantity: Number(f.quantity.value), brand: f.brand.value,
          specification: f.specification.value, comments: f.comments.value,
          photo_urls: photoUrls,
        }],
        signatures: [
          { role: "inspector", name: f.inspector.value, image: signatures.inspector() },
          { role: "client", name: f.client.value, image: signatures.client() },
        ],
      };
      const response = await fetch("/api/submissions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(submission),
      });
      const { job_id: jobId, status_url: statusUrl } = await answer(response, "submission");
      const job = await waitForReports(statusUrl, show);
      if (job.status === "failed") {
        show(`The report failed: ${job.error}`);
        return;
      }
      const list = document.getElementById("reports");
      for (const kind of ["pdf", "xlsx"]) {
        const link = document.createElement("a");
        link.href = `/api/jobs/${jobId}/report.${kind}`;
        link.download = `inspection-${jobId}.${kind}`;
        link.textContent = `Download the ${kind.toUpperCase()}`;
        const item = document.createElement("li");
        item.append(link);
        list.append(item);
      }
      show("Report ready");
    } catch (err) {
      show(`Error: ${err.message}`);
      form.querySelector("button").disabled = false;
    }
  });
});
