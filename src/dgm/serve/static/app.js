// dgm serve: the runs list (refreshed) and a run's live controls. Plain JavaScript, no framework, no network
// beyond this server.
"use strict";

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function refreshRuns() {
  const body = document.querySelector("#runs tbody");
  const response = await fetch("/api/runs");
  if (!response.ok) return;
  const runs = await response.json();
  body.replaceChildren();
  for (const run of runs) {
    const tr = document.createElement("tr");
    const link = document.createElement("a");
    link.href = "/runs/" + encodeURIComponent(run.name);
    link.textContent = run.name;
    const first = document.createElement("td");
    first.appendChild(link);
    tr.appendChild(first);
    tr.appendChild(cell(run.model));
    tr.appendChild(cell(run.data));
    tr.appendChild(cell(run.step === null ? "" : run.step));
    const status = cell(run.status);
    status.className = "status-" + run.status;
    tr.appendChild(status);
    tr.appendChild(cell(Object.entries(run.metrics).map(([k, v]) => k + " " + v).join(", ")));
    body.appendChild(tr);
  }
  document.getElementById("empty").hidden = runs.length > 0;
}

async function call(run, what, payload, image, error, info) {
  error.textContent = "";
  if (info) info.textContent = "working...";
  const response = await fetch("/api/runs/" + encodeURIComponent(run) + "/" + what, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)});
  const answer = await response.json();
  if (!response.ok) {
    error.textContent = answer.error || ("error " + response.status);
    if (info) info.textContent = "";
    return;
  }
  image.src = answer.image;
  if (info) info.textContent = "seed " + answer.seed + " (" + answer.ms + " ms)";
}

function options() {
  const out = {};
  for (const input of document.querySelectorAll("[data-option]")) {
    out[input.name] = input.type === "checkbox" ? input.checked : input.value;
  }
  return out;
}

function runPage(run) {
  const sample = document.getElementById("sample");
  if (sample) {
    const go = () => {
      const label = document.getElementById("label");
      call(run, "sample", {seed: document.getElementById("seed").value, n: document.getElementById("n").value,
                           label: label ? label.value : "", options: options()},
           document.getElementById("sample-image"), document.getElementById("sample-error"),
           document.getElementById("sample-info"));
    };
    sample.addEventListener("click", go);
    go();
  }
  const t = document.getElementById("t");
  if (t) {
    const error = document.getElementById("latent-error");
    const seed = document.getElementById("latent-seed");
    const interp = () => {
      document.getElementById("t-value").textContent = t.value;
      call(run, "interpolate", {seed: seed.value, t: t.value}, document.getElementById("interp-image"), error);
    };
    const value = document.getElementById("value");
    const traverse = () => {
      document.getElementById("value-value").textContent = value.value;
      call(run, "traverse", {seed: seed.value, dim: document.getElementById("dim").value, value: value.value},
           document.getElementById("traverse-image"), error);
    };
    t.addEventListener("input", interp);
    value.addEventListener("input", traverse);
    document.getElementById("dim").addEventListener("change", traverse);
    seed.addEventListener("change", () => { interp(); traverse(); });
    interp();
    traverse();
  }
  const styles = document.getElementById("mix-styles");
  if (styles) {
    const psi = document.getElementById("mix-psi");
    const seed = document.getElementById("mix-seed");
    const mix = () => {
      document.getElementById("mix-psi-value").textContent = psi.value;
      call(run, "style-mix", {seed: seed.value, styles: styles.value, truncation: psi.value},
           document.getElementById("mix-image"), document.getElementById("mix-error"));
    };
    styles.addEventListener("change", mix);
    psi.addEventListener("input", mix);
    seed.addEventListener("change", mix);
    mix();
  }
}

const main = document.querySelector("main");
if (main && main.dataset.page === "index") {
  refreshRuns();
  setInterval(refreshRuns, 3000);
} else if (main && main.dataset.page === "run") {
  runPage(JSON.parse(main.dataset.run).run);
}
