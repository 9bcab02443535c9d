// voiceguide studio: the page. Plain JavaScript; every value and message comes from the server's API.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { form: [], routine: null, planSeq: 0, checkSeq: 0, job: null, source: null, duration: null };
const DEBOUNCE_MS = 400;

function clock(seconds) {
  const whole = Math.round(seconds);
  const m = Math.floor(whole / 60), s = whole % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

function status(text, error) {
  $("status").textContent = text || "";
  $("status").classList.toggle("error", !!error);
}

async function api(path, body, method) {
  const options = body === undefined ? { method: method || "GET" } : {
    method: method || "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) {
    const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
    error.data = data;
    throw error;
  }
  return data;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// --- the routine picker ------------------------------------------------------------------------------------

async function loadRoutines(select) {
  const data = await api("api/routines");
  const picker = $("routine-select");
  picker.textContent = "";
  const groups = [["Built-in", data.builtins, "builtin"], ["My routines", data.mine, "mine"]];
  state.routines = {};
  for (const [label, list, source] of groups) {
    if (!list.length) continue;
    const group = document.createElement("optgroup");
    group.label = label;
    for (const r of list) {
      const option = document.createElement("option");
      option.value = source === "builtin" ? r.name : `mine:${r.name}`;
      const about = r.estimated_s ? ` (about ${clock(r.estimated_s)})` : "";
      option.textContent = `${r.name}: ${r.title}${about}`;
      state.routines[option.value] = { ...r, source };
      group.appendChild(option);
    }
    picker.appendChild(group);
  }
  if (select && state.routines[select]) picker.value = select;
  await pickRoutine();
}

async function pickRoutine() {
  const value = $("routine-select").value;
  const r = state.routines[value];
  if (!r) return;
  state.routine = r;
  $("routine-about").textContent = [r.description, r.estimated_s ? `About ${clock(r.estimated_s)}.` : ""].join(" ").trim();
  $("save-button").hidden = r.source !== "mine";
  $("copy-button").hidden = r.source !== "builtin";
  const data = await api(`api/routine?source=${r.source}&name=${encodeURIComponent(r.name)}`);
  $("yaml-editor").value = data.yaml;
  await checkNow();
}

async function copyRoutine() {
  const r = state.routine;
  const data = await api("api/routines/copy", { name: r.name });
  status(`Copied to your routines as ${data.name}`);
  await loadRoutines(`mine:${data.name}`);
}

async function saveRoutine() {
  const r = state.routine;
  await api("api/routine", { name: r.name, yaml: $("yaml-editor").value }, "PUT");
  status(`Saved ${r.name}.yaml`);
}

// --- the settings form, made from the settings table -------------------------------------------------------

const LABELS = {
  voice: "Voice", engine: "Engine", preset: "Preset", rate_wpm: "Rate (words/min)", volume: "Voice volume",
  pace: "Pace", length: "Target length", music: "Music", music_volume_db: "Music level (dB)", chimes: "Chimes",
  pan: "Lean toward the side worked",
  loudness_lufs: "Loudness (LUFS)", bitrate_kbps: "Bitrate (kbit/s)", chapters: "Chapters", format: "Format",
};

function buildForm(fields) {
  const form = $("settings-form");
  form.textContent = "";
  const choice = document.createElement("div");
  choice.className = "pace-or-length";
  choice.innerHTML = '<span>Timing:</span><label><input type="radio" name="timing" value="pace" checked> pace</label>' +
    '<label><input type="radio" name="timing" value="length"> target length</label>';
  form.appendChild(choice);
  for (const f of fields) {
    const wrap = document.createElement("div");
    wrap.className = `field field-${f.key}`;
    const id = `setting-${f.key}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = LABELS[f.key] || f.key;
    let control;
    if (f.choices && f.choices.length) {
      control = document.createElement("select");
      const keep = document.createElement("option");
      keep.value = "";
      keep.textContent = f.in_routine ? "as the routine says" : `default (${f.shown_default})`;
      if (f.key !== "format") control.appendChild(keep);
      for (const c of f.choices) {
        const o = document.createElement("option");
        o.value = c;
        o.textContent = c;
        control.appendChild(o);
      }
      if (f.key === "format") control.value = f.default;
    } else {
      control = document.createElement("input");
      if (f.kind === "int" || f.kind === "float") {
        control.type = "number";
        if (f.low !== null) control.min = f.low;
        if (f.high !== null) control.max = f.high;
        control.step = f.kind === "int" ? "1" : f.key === "pace" || f.key === "volume" ? "0.05" : "0.5";
        control.placeholder = f.in_routine ? "as the routine says" : `default ${f.shown_default}`;
      } else {
        control.type = "text";
        control.placeholder = f.key === "length" ? "e.g. 15m or 12:30" : f.in_routine ? "as the routine says" : String(f.shown_default);
      }
    }
    control.id = id;
    control.name = f.key;
    if (f.key === "pace") { control.dataset.testid = "pace"; control.value = ""; }
    control.title = f.help;
    const help = document.createElement("p");
    help.className = "field-help";
    const range = f.low !== null && f.high !== null ? `${f.low} to ${f.high}` : "";
    help.textContent = f.kind === "choice" || !(f.unit || range) ? "" : [range, f.unit === "factor" ? "" : f.unit].filter(Boolean).join(" ");
    wrap.append(label, control, help);
    form.appendChild(wrap);
  }
  showTiming();
  form.addEventListener("input", () => { showTiming(); planSoon(); });
  form.addEventListener("change", () => { showTiming(); planSoon(); });
}

function showTiming() {
  const timing = document.querySelector('input[name="timing"]:checked').value;
  document.querySelector(".field-pace").hidden = timing !== "pace";
  document.querySelector(".field-length").hidden = timing !== "length";
}

function settings() {
  const out = {};
  const timing = document.querySelector('input[name="timing"]:checked').value;
  for (const f of state.form) {
    if ((f.key === "pace" && timing !== "pace") || (f.key === "length" && timing !== "length")) continue;
    const value = $(`setting-${f.key}`).value.trim();
    if (value !== "") out[f.key] = f.kind === "int" || f.kind === "float" ? Number(value) : value;
  }
  return out;
}

async function previewVoice() {
  const button = $("preview-button");
  button.disabled = true;
  status("Speaking one line...");
  try {
    const audio = await api("api/preview", { settings: settings(), yaml: $("yaml-editor").value });
    const player = $("preview-audio");
    player.src = URL.createObjectURL(audio);
    player.hidden = false;
    player.play().catch(() => {});
    status("");
  } catch (error) {
    status(error.message, true);
  } finally {
    button.disabled = false;
  }
}

// --- live validation -----------------------------------------------------------------------------------

function showProblems(result) {
  // The problems list holds problems only (empty when the routine is fine); the verdict and warnings go beside it.
  const list = $("problems");
  const summary = $("check-summary");
  list.textContent = "";
  summary.textContent = "";
  summary.className = result.ok ? "ok" : "bad";
  if (result.ok) {
    summary.textContent = result.summary;
    for (const w of result.warnings || []) {
      const warn = document.createElement("p");
      warn.className = "warning";
      warn.textContent = `warning: ${w}`;
      summary.appendChild(warn);
    }
    return;
  }
  summary.textContent = `${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}:`;
  for (const p of result.problems) {
    const li = document.createElement("li");
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = p.line ? `${p.line}:${p.column || 1}` : "routine";
    li.append(where, document.createTextNode(p.message));
    li.dataset.line = p.line || "";
    if (p.line) li.addEventListener("click", () => goToLine(p.line, p.column || 1));
    list.appendChild(li);
  }
}

function goToLine(line, column) {
  const editor = $("yaml-editor");
  const lines = editor.value.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  editor.focus();
  editor.setSelectionRange(offset, offset);
  editor.scrollTop = Math.max(0, (line - 5) * 18.85);
}

async function checkNow() {
  const seq = ++state.checkSeq;
  try {
    const result = await api("api/validate", { yaml: $("yaml-editor").value, name: state.routine ? state.routine.name : "routine" });
    if (seq !== state.checkSeq) return;
    showProblems(result);
    if (result.ok) planSoon(); else $("timeline").classList.add("stale");
  } catch (error) {
    if (seq === state.checkSeq) showProblems({ ok: false, problems: [{ line: null, message: error.message }] });
  }
}

// --- the timeline ----------------------------------------------------------------------------------------

async function planNow() {
  const seq = ++state.planSeq;
  $("timeline").classList.add("stale");
  status("Timing the speech...");
  try {
    const data = await api("api/plan", { yaml: $("yaml-editor").value, name: state.routine ? state.routine.name : "routine", settings: settings() });
    if (seq !== state.planSeq || data.superseded) return;
    $("timeline").innerHTML = data.svg;
    $("timeline").dataset.durationS = data.duration_s;
    $("timeline").classList.remove("stale");
    state.duration = data.duration_s;
    $("plan-length").textContent = `${clock(data.duration_s)} (${data.duration_s.toFixed(1)} s)`;
    status("");
  } catch (error) {
    if (seq === state.planSeq) status(error.message, true);
  }
}

const planSoon = debounce(planNow, DEBOUNCE_MS);
const checkSoon = debounce(checkNow, DEBOUNCE_MS);

// --- rendering -------------------------------------------------------------------------------------------

async function render() {
  $("render-button").disabled = true;
  $("progress").value = 0;
  $("render-state").textContent = "queued";
  try {
    const job = await api("api/render", { yaml: $("yaml-editor").value, name: state.routine ? state.routine.name : "routine", settings: settings() });
    state.job = job.id;
    $("cancel-button").disabled = false;
    follow(job.id);
  } catch (error) {
    $("render-button").disabled = false;
    $("render-state").textContent = "";
    if (error.data && error.data.problems) showProblems({ ok: false, problems: error.data.problems });
    status(error.message, true);
  }
}

function follow(id) {
  if (state.source) state.source.close();
  const source = new EventSource(`api/render/${id}/events`);
  state.source = source;
  source.onmessage = (message) => {
    const job = JSON.parse(message.data);
    $("progress").value = job.fraction;
    const words = { voice: "voice", mix: "mixing and encoding", done: "done" };
    $("render-state").textContent = job.state === "running" ? `${words[job.stage] || job.stage} ${Math.round(job.fraction * 100)}%` : job.state;
    if (["done", "failed", "cancelled"].includes(job.state)) {
      source.close();
      state.source = null;
      $("render-button").disabled = false;
      $("cancel-button").disabled = true;
      if (job.state === "done") { showSession(job.session); loadSessions(); }
      if (job.state === "failed") { $("render-state").textContent = "failed"; status(job.message, true); }
    }
  };
  source.onerror = () => { if (state.source === source && source.readyState === EventSource.CLOSED) $("render-button").disabled = false; };
}

async function cancelRender() {
  if (!state.job) return;
  $("cancel-button").disabled = true;
  await api(`api/render/${state.job}/cancel`, {});
}

function showSession(session) {
  $("player").hidden = false;
  $("session-title").textContent = `${session.title || session.name}${session.duration_s ? ` (${clock(session.duration_s)})` : ""}`;
  const audio = $("session-audio");
  audio.src = `sessions/${encodeURIComponent(session.name)}`;
  audio.dataset.planDurationS = session.duration_s || "";
  const link = $("download-link");
  link.href = `sessions/${encodeURIComponent(session.name)}?download=1`;
  link.setAttribute("download", session.name);
  link.textContent = `Download ${session.name}`;
  const list = $("chapters");
  list.textContent = "";
  for (const c of session.chapters || []) {
    const li = document.createElement("li");
    li.dataset.startS = c.start_s;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `${c.title} (${clock(c.start_s)})`;
    button.addEventListener("click", () => { audio.currentTime = c.start_s; audio.play().catch(() => {}); });
    li.appendChild(button);
    list.appendChild(li);
  }
}

function markChapter() {
  const t = $("session-audio").currentTime;
  const items = [...$("chapters").children];
  items.forEach((li, i) => {
    const next = items[i + 1];
    li.classList.toggle("current", t >= Number(li.dataset.startS) && (!next || t < Number(next.dataset.startS)));
  });
}

async function loadSessions() {
  const data = await api("api/sessions");
  const list = $("sessions");
  list.textContent = "";
  if (!data.sessions.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "None yet.";
    list.appendChild(li);
  }
  for (const s of data.sessions) {
    const li = document.createElement("li");
    const play = document.createElement("button");
    play.type = "button";
    play.textContent = "Play";
    play.addEventListener("click", () => showSession(s));
    const name = document.createElement("span");
    const when = new Date(s.modified * 1000).toLocaleString();
    name.textContent = `${s.title}${s.duration_s ? ` (${clock(s.duration_s)})` : ""}, ${when}`;
    const link = document.createElement("a");
    link.href = `sessions/${encodeURIComponent(s.name)}?download=1`;
    link.textContent = "download";
    li.append(play, name, link);
    list.appendChild(li);
  }
}

async function loadInfo() {
  const info = await api("api/info");
  if (info.qr_svg) {
    $("lan").hidden = false;
    $("lan").open = true;
    $("qr").innerHTML = info.qr_svg;
    $("lan-url").textContent = info.lan_url;
  }
}

async function start() {
  try {
    await loadInfo();
    state.form = (await api("api/form")).fields;
    buildForm(state.form);
    $("routine-select").addEventListener("change", () => pickRoutine().catch((e) => status(e.message, true)));
    $("yaml-editor").addEventListener("input", checkSoon);
    $("copy-button").addEventListener("click", () => copyRoutine().catch((e) => status(e.message, true)));
    $("save-button").addEventListener("click", () => saveRoutine().catch((e) => status(e.message, true)));
    $("preview-button").addEventListener("click", previewVoice);
    $("render-button").addEventListener("click", render);
    $("cancel-button").addEventListener("click", () => cancelRender().catch((e) => status(e.message, true)));
    $("session-audio").addEventListener("timeupdate", markChapter);
    await loadRoutines();
    await loadSessions();
  } catch (error) {
    status(error.message, true);
  }
}

start();
