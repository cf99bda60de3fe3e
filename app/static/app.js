// The Resilient Records app: plain JavaScript over the JSON routes of 'rrec app' (docs/app.md).
// Keys never reach this page; it shows what the app in the same computer tells it, and sends
// files to it. Every piece of text from the network goes through text nodes, never HTML.
"use strict";

const main = document.getElementById("main");
const notice = document.getElementById("notice");
let me = null; // {identity, chain}

// h builds an element: h("p", {class: "x"}, "text", child, ...).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// ---- talking to the app --------------------------------------------------------------------

class Problem extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch (e) {
    throw new Problem("offline", "The app on this computer does not answer: is 'rrec app' still running?");
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    if (data && data.message) throw new Problem(data.code, data.message);
    throw new Problem("failed", "Something went wrong (" + resp.status + "). Please try again.");
  }
  return data;
}

function newJob() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// follow polls a transfer's progress and hands it to show until stop() is called.
function follow(job, show) {
  let stopped = false;
  (async function loop() {
    while (!stopped) {
      try {
        const p = await api("GET", "/api/progress/" + job);
        if (!stopped) show(p);
      } catch (e) { /* not started yet, or finished */ }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return () => { stopped = true; };
}

// ---- words and numbers ---------------------------------------------------------------------

function size(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(0) + " KB";
  return n + " bytes";
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });
function when(t) { return t ? dateFmt.format(new Date(t)) : "—"; }

function kind(type, name) {
  const t = (type || "").toLowerCase();
  const n = (name || "").toLowerCase();
  if (t === "application/pdf" || n.endsWith(".pdf")) return "PDF document";
  if (t.startsWith("image/")) return "Image";
  if (n.endsWith(".dcm") || t === "application/dicom") return "Scan (DICOM)";
  if (t.includes("fhir") || t === "application/json") return "Health data";
  if (t.startsWith("text/")) return "Text";
  if (t.startsWith("video/")) return "Video";
  return t ? t : "File";
}

function recordName(r, id) {
  if (r && r.name) return r.name;
  return "Record " + (id || (r && r.id) || "").slice(0, 8);
}

// shortID shows the start and end of a long identity, the parts people compare.
function shortID(s) {
  if (!s) return "";
  if (!/^(rrec1[a-z2-7]+|[0-9a-f]{40,})$/.test(s)) return s; // a name
  return s.slice(0, 12) + "…" + s.slice(-6);
}

// person shows someone by their contact name, else by their identity, shortened.
function person(name, id) {
  if (!name && !/^(rrec1[a-z2-7]+|[0-9a-f]{40,})$/.test(id || "")) name = id; // already a name
  if (name) return h("span", { class: "person", title: id }, name);
  return h("span", { class: "ident", title: id }, shortID(id));
}

const statusWords = {
  live: "Active",
  not_yet_valid: "Not started",
  expired: "Ran out",
  revoked: "Withdrawn",
  erased: "Erased",
  unusable: "Unusable",
};

// lasts says when a share can be used: "from 1 Dec 2026, 00:00 until 8 Dec 2026, 00:00".
function lasts(g) {
  const end = g.until ? "until " + when(g.until) : "until withdrawn";
  return g.from ? "from " + when(g.from) + " " + end : end;
}

function capital(s) { return s ? s[0].toUpperCase() + s.slice(1) : s; }

// isoDay is a date input's value for the local day of t.
function isoDay(t) {
  return t.getFullYear() + "-" + String(t.getMonth() + 1).padStart(2, "0") + "-" + String(t.getDate()).padStart(2, "0");
}

function badge(status) {
  return h("span", { class: "badge badge-" + status }, statusWords[status] || status);
}

// Purposes of use as the ledger keeps them: HL7 v3 PurposeOfUse codes, as 'rrec grant
// --purpose' and FHIR Consent write them.
const purposes = [
  ["TREAT", "Treatment"],
  ["COC", "A second opinion or a referral (coordination of care)"],
  ["ETREAT", "Emergency care"],
  ["HPAYMT", "An insurance claim"],
  ["HRESCH", "Research"],
  ["FAMRQT", "Family or carer"],
  ["PATRQT", "At my request"],
];
// Shares made before purposes were codes said these words.
const olderPurposes = {
  "treatment": "Treatment", "second opinion": "A second opinion", "referral": "A referral to another clinic",
  "emergency": "Emergency care", "insurance": "An insurance claim", "research": "Research", "family": "Family or carer",
};
function purposeText(p) {
  const f = purposes.find(([v]) => v === p);
  return f ? f[1] : (olderPurposes[p] || p || "no purpose given");
}

const durations = [
  [24, "One day"],
  [24 * 7, "One week"],
  [24 * 30, "30 days"],
  [24 * 365, "One year"],
  [0, "Until I withdraw it"],
];

// ---- the page frame ------------------------------------------------------------------------

function say(text, isError) {
  notice.hidden = !text;
  notice.textContent = text || "";
  notice.className = "notice" + (isError ? " notice-error" : "");
}

function page(title, ...children) {
  main.replaceChildren(h("h1", {}, title), ...children);
  document.title = title + " — Resilient Records";
}

function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e.message || String(e));
}

function table(caption, headers, rows) {
  return h("table", {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows));
}

// td with the column's name for phone widths, where rows become cards.
function td(label, ...children) {
  return h("td", { "data-label": label }, h("div", { class: "cell" }, ...children));
}

function confirmDialog(title, text, ok) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "cancel";
    d.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

// ---- My records ----------------------------------------------------------------------------

async function recordsPage() {
  const input = h("input", { type: "file", id: "file", class: "visually-hidden", multiple: true, tabindex: "-1" });
  const bar = h("progress", { id: "upload-progress", max: 100, value: 0, hidden: true, "aria-label": "Upload progress" });
  const phase = h("p", { id: "upload-phase", class: "phase", "aria-live": "polite" });
  const drop = h("div", { class: "drop", id: "drop" },
    h("p", { class: "drop-title" }, "Add a record"),
    h("p", {}, "Drop a file here, or ",
      h("label", { for: "file", class: "button", tabindex: "0", id: "choose", onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
      } }, "choose a file"),
      "."),
    h("p", { class: "hint" }, "It is sealed on this computer before anything leaves it: the network stores only a locked copy."),
    input, bar, phase);
  const list = h("div", { id: "records" }, h("p", { class: "loading" }, "Loading your records…"));
  page("My records", drop, h("h2", {}, "Your records"), list);

  input.addEventListener("change", () => uploadAll(Array.from(input.files), bar, phase, list));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    uploadAll(Array.from(e.dataTransfer.files), bar, phase, list);
  });
  await fillRecords(list);
}

async function fillRecords(list) {
  let recs;
  try {
    recs = await api("GET", "/api/records");
  } catch (e) {
    list.replaceChildren(errorBox(e));
    return;
  }
  if (recs.length === 0) {
    list.replaceChildren(h("p", { class: "empty" }, "You have no records yet. Add one above."));
    return;
  }
  list.replaceChildren(table("Your records", ["Name", "Type", "Size", "Added", "Copies held", ""],
    recs.map((r) => h("tr", { "data-record": r.id, class: r.erased ? "erased" : "" },
      td("Name", h("span", { class: "name" }, recordName(r))),
      td("Type", kind(r.type, r.name)),
      td("Size", size(r.size)),
      td("Added", when(r.time)),
      td("Copies held", r.erased ? "Erased " + when(r.erased) : (r.replicas ? r.holders + " of " + r.replicas + " nodes" : "—")),
      td("Actions", r.erased ? h("a", { href: "#/history/" + r.id }, "History") : h("span", { class: "row-actions" },
        h("a", { href: "#/share/" + r.id, class: "button small" }, "Share"),
        h("a", { href: "#/history/" + r.id }, "History"),
        h("button", { class: "link", onclick: () => openRecord(r.id, "", null) }, "Download"),
        h("a", { href: "#/erase/" + r.id, class: "danger-link" }, "Erase")))))));
}

async function uploadAll(files, bar, phase, list) {
  for (const f of files) {
    try {
      await upload(f, bar, phase);
      say("“" + f.name + "” is sealed and stored.");
    } catch (e) {
      say("“" + f.name + "” was not stored: " + e.message, true);
    }
    await fillRecords(list);
  }
}

// upload sends the File itself as the request body: the browser streams it from disk, so
// the page never holds the file in memory. The app reports how far sealing and the upload to
// the network are; the bar follows both.
function upload(file, bar, phase) {
  const job = newJob();
  const q = new URLSearchParams({ name: file.name, type: file.type || "", modified: String(file.lastModified || 0), job });
  bar.hidden = false;
  bar.value = 0;
  phase.textContent = "Sealing “" + file.name + "” on this computer…";
  const stop = follow(job, (p) => {
    if (p.total <= 0) return;
    const pct = Math.floor((100 * p.done) / p.total);
    if (p.phase === "seal") {
      bar.value = pct * 0.5;
      phase.textContent = "Sealing “" + file.name + "” on this computer… " + pct + "%";
    } else if (p.phase === "upload") {
      bar.value = 50 + pct * 0.45;
      phase.textContent = pct < 100 ? "Sending the sealed copy to the network… " + pct + "%" : "Recording it on the ledger…";
    }
  });
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/records?" + q.toString());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.onload = () => {
      stop();
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = 100;
        phase.textContent = "Done: “" + file.name + "” is stored.";
        resolve(data);
      } else {
        bar.hidden = true;
        phase.textContent = "";
        reject(new Problem(data && data.code, (data && data.message) || "The upload failed (" + xhr.status + ")."));
      }
    };
    xhr.onerror = () => {
      stop();
      bar.hidden = true;
      phase.textContent = "";
      reject(new Problem("offline", "The app on this computer stopped answering during the upload."));
    };
    xhr.send(file);
  });
}

// ---- Share ---------------------------------------------------------------------------------

async function sharePage(rec) {
  page("Share a record", h("p", { class: "loading" }, "Loading…"));
  let info;
  try {
    info = await api("GET", "/api/records/" + rec + "/grants");
  } catch (e) {
    page("Share a record", errorBox(e));
    return;
  }
  const r = info.record;
  let book = [];
  try { book = await api("GET", "/api/contacts"); } catch (e) { /* shown without contacts */ }
  const who = h("textarea", { id: "to", rows: 3, required: true, spellcheck: "false", autocomplete: "off",
    "aria-describedby": "to-hint", placeholder: "rrec1…" });
  const pick = h("select", { id: "to-contact" },
    h("option", { value: "" }, book.length ? "Someone else (paste their identity below)" : "No contacts yet: paste their identity below"),
    book.map((c) => h("option", { value: c.identity }, c.name)));
  pick.addEventListener("change", () => { who.value = pick.value; explain(); });
  const dur = h("fieldset", {}, h("legend", {}, "For how long"),
    durations.map(([hours, label], i) => h("label", { class: "choice" },
      h("input", { type: "radio", name: "hours", value: hours, checked: i === 2 }), " ", label)));
  const tomorrow = isoDay(new Date(Date.now() + 864e5));
  const startDay = h("input", { type: "date", id: "starts-date", min: tomorrow, value: tomorrow, disabled: true,
    "aria-label": "The day the share starts" });
  const from = h("fieldset", {}, h("legend", {}, "From when"),
    h("label", { class: "choice" }, h("input", { type: "radio", name: "starts", value: "now", checked: true }), " Now"),
    h("label", { class: "choice" }, h("input", { type: "radio", name: "starts", value: "later", id: "starts-later" }), " From a later day: "),
    startDay);
  const purpose = h("select", { id: "purpose" }, purposes.map(([v, l]) => h("option", { value: v }, l)));
  const statement = h("div", { class: "statement", id: "statement", "aria-live": "polite" });
  const result = h("div", { id: "share-result" });
  const submit = h("button", { type: "submit", id: "share-submit" }, "Share");
  const form = h("form", { class: "form", id: "share-form" },
    h("label", { for: "to-contact" }, "Who to share with"),
    pick,
    h("label", { for: "to", class: "sub" }, "Their identity"),
    h("p", { class: "hint", id: "to-hint" }, "The line starting with rrec1 that their app or 'rrec pubkey' shows them. ",
      h("a", { href: "#/contacts" }, "Add people to your contacts"), " to pick them by name."),
    who, from, dur,
    h("label", { for: "purpose" }, "Why they may read it"),
    purpose, statement, submit, result);

  function hours() { return Number(form.querySelector("input[name=hours]:checked").value); }
  function whoName() {
    const c = book.find((x) => x.identity === who.value.trim());
    return c ? c.name : "the person holding this identity";
  }
  // starts is when the share begins: null for now, else the local midnight of the day picked.
  function starts() {
    startDay.disabled = !form.querySelector("#starts-later").checked;
    if (startDay.disabled || !startDay.value) return null;
    const [y, m, d] = startDay.value.split("-").map(Number);
    const t = new Date(y, m - 1, d);
    return t.getTime() > Date.now() ? t : null;
  }
  function explain() {
    const hs = hours();
    const begin = starts();
    const from = begin ? begin.getTime() : Date.now();
    const until = hs === 0 ? "until you withdraw it" : "until " + dayFmt.format(new Date(from + hs * 3600e3)) + " (or until you withdraw it, if sooner)";
    statement.replaceChildren(
      h("p", {}, h("strong", {}, "What this allows: "),
        (begin ? "Starting on " + dayFmt.format(begin) + ", " : "From now on, ") +
        whoName() + " will be able to open “" + recordName(r) + "” and save a copy of it, for " +
        purposeText(purpose.value) + ", " + until + "."),
      begin ? h("p", {}, "Before " + dayFmt.format(begin) + " the network refuses to open it for them: the share starts on that day, not earlier.") : "",
      h("p", {}, "Every time they open it, the network records it, with the reason they give, in this record's history, where you can see it."),
      h("p", {}, "You can withdraw the share at any time; from then on the network refuses to open the record for them. A copy they already saved stays with them."));
  }
  form.addEventListener("change", explain);
  who.addEventListener("input", explain);
  explain();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    result.replaceChildren(h("p", { class: "phase" }, "Sharing… the network's nodes each take a part of the key."));
    try {
      const begin = starts();
      await api("POST", "/api/records/" + rec + "/grants", { to: who.value.trim(), hours: hours(), purpose: purpose.value,
        starts: begin ? begin.toISOString() : undefined });
      result.replaceChildren(h("p", { class: "ok", role: "status" }, "Shared. " + (whoName().startsWith("the person") ? "They" : whoName()) +
        " can open “" + recordName(r) + "” " + (begin ? "from " + dayFmt.format(begin) + "." : "now.")),
        h("p", {}, h("a", { href: "#/shares" }, "See all your shares"), " · ", h("a", { href: "#/records" }, "Back to my records")));
    } catch (err) {
      result.replaceChildren(errorBox(err));
    } finally {
      submit.disabled = false;
    }
  });
  page("Share “" + recordName(r) + "”", form);
  who.focus();
}

// ---- Shares --------------------------------------------------------------------------------

async function sharesPage() {
  page("Shares", h("p", { class: "loading" }, "Loading your shares…"));
  let gs;
  try {
    gs = await api("GET", "/api/shares");
  } catch (e) {
    page("Shares", errorBox(e));
    return;
  }
  if (gs.length === 0) {
    page("Shares", h("p", { class: "empty" }, "You have not shared any record yet. Share one from ", h("a", { href: "#/records" }, "My records"), "."));
    return;
  }
  const live = gs.filter((g) => g.status === "live" || g.status === "not_yet_valid");
  const ended = gs.filter((g) => !(g.status === "live" || g.status === "not_yet_valid"));
  const rows = (list) => list.map((g) => h("tr", { "data-grant": g.id },
    td("Record", h("a", { href: "#/history/" + g.record }, recordName({ name: g.record_name }, g.record))),
    td("Shared with", person(g.to_name, g.to), g.by ? h("span", { class: "hint" }, " by " + g.by + " for you") : null),
    td("Purpose", purposeText(g.purpose)),
    td("When", capital(lasts(g))),
    td("Status", badge(g.status), g.status === "revoked" || g.status === "expired" || g.status === "erased"
      ? h("span", { class: "hint" }, " " + g.destroyed + " of " + g.nodes + " nodes destroyed their key part")
      : g.destroyed > 0 ? h("span", { class: "hint" }, " " + (g.nodes - g.destroyed) + " of " + g.nodes + " nodes hold a key part") : null),
    td("", g.status === "live" || g.status === "not_yet_valid"
      ? h("button", { class: "danger small", onclick: () => revoke(g) }, "Withdraw") : null)));
  page("Shares",
    h("h2", {}, "Active"),
    live.length ? table("Active shares", ["Record", "Shared with", "Purpose", "When", "Status", ""], rows(live)) : h("p", { class: "empty" }, "No active shares."),
    h("h2", {}, "Ended"),
    ended.length ? table("Ended shares", ["Record", "Shared with", "Purpose", "When", "Status", ""], rows(ended)) : h("p", { class: "empty" }, "None yet."));
}

async function revoke(g) {
  const ok = await confirmDialog("Withdraw this share?",
    "From now on the network will refuse to open “" + recordName({ name: g.record_name }, g.record) + "” for " + (g.to_name || shortID(g.to)) +
    ". A copy they already saved stays with them.", "Withdraw");
  if (!ok) return;
  say("Withdrawing…");
  try {
    const res = await api("POST", "/api/grants/" + g.id + "/revoke");
    say("Withdrawn. " + res.destroyed + " of " + res.nodes + " nodes have confirmed destroying their part of the key.");
  } catch (e) {
    say(e.message, true);
  }
  await sharesPage();
}

// ---- History -------------------------------------------------------------------------------

async function historyPage(rec) {
  page("History", h("p", { class: "loading" }, "Loading the history…"));
  let info;
  try {
    info = await api("GET", "/api/records/" + rec + "/history");
  } catch (e) {
    page("History", errorBox(e));
    return;
  }
  const seenKey = "seen:" + rec;
  const seen = Number(localStorage.getItem(seenKey) || 0);
  const showNodes = h("input", { type: "checkbox", id: "show-nodes" });
  const list = h("ol", { class: "timeline", id: "timeline" });
  function fill() {
    list.replaceChildren(...info.events
      .filter((e) => showNodes.checked || (e.kind !== "holds" && e.kind !== "destroyed"))
      .map((e) => {
        const fresh = e.kind === "request" && seen > 0 && e.height > seen;
        return h("li", { class: "event event-" + e.kind + (fresh ? " fresh" : ""), "data-kind": e.kind },
          h("time", { datetime: e.time }, when(e.time)),
          h("div", {},
            h("strong", {}, e.text), fresh ? h("span", { class: "badge badge-new" }, "New since your last visit") : null,
            e.kind === "request" ? h("p", {}, "By ", person(null, e.who), " — reason given: ", h("span", { class: "purpose" }, purposeText(e.purpose))) : null,
            e.kind === "grant" ? h("p", {}, "With ", person(null, e.with), " — for " + purposeText(e.purpose) + (e.from ? ", starting " + when(e.from) : "")) : null,
            e.kind === "revoke" ? h("p", {}, "From ", person(null, e.with), " — the network refuses to open it for them from now on.") : null,
            e.kind === "expire" ? h("p", {}, "From ", person(null, e.with), " — the time allowed was over; the network no longer opens it for them.") : null,
            e.kind === "erase" ? h("p", {}, "Every node deleted its copy and its key parts.") : null,
            e.kind === "emergency" ? h("p", {}, h("span", { class: "badge badge-emergency" }, "Emergency"),
              " Read without asking you, under your emergency pre-authorisation — reason given: ", h("span", { class: "purpose" }, e.purpose)) : null,
            // A caregiver's grant or revoke, made for the owner.
            (e.kind === "grant" || e.kind === "revoke") && e.who && e.who !== "you" ? h("p", { class: "hint" }, "Done by ", e.who) : null));
      }));
  }
  showNodes.addEventListener("change", fill);
  fill();
  const max = info.events.reduce((m, e) => Math.max(m, e.height), 0);
  localStorage.setItem(seenKey, String(max));
  const reads = info.events.filter((e) => e.kind === "request").length;
  const r = info.record;
  page("History of “" + recordName(r) + "”",
    h("p", { class: "lead" }, reads === 0 ? "Nobody has opened this record through a share yet." :
      reads === 1 ? "It was opened once through a share." : "It was opened " + reads + " times through shares."),
    h("p", { class: "hint" }, "This history is kept by the network's nodes together; no single node can hide a read from it."),
    h("label", { class: "choice" }, showNodes, " Show the nodes' own reports (copies held, key parts destroyed)"),
    list,
    r.owner === "you" && !r.erased ? h("p", { class: "row-actions" }, h("a", { href: "#/share/" + rec, class: "button" }, "Share this record"), " ", h("a", { href: "#/records" }, "Back to my records")) : null);
}

// ---- Erase ---------------------------------------------------------------------------------

async function erasePage(rec) {
  let info;
  try {
    info = await api("GET", "/api/records/" + rec + "/grants");
  } catch (e) {
    page("Erase a record", errorBox(e));
    return;
  }
  const r = info.record;
  const live = info.grants.filter((g) => g.status === "live" || g.status === "not_yet_valid").length;
  const check = h("input", { type: "checkbox", id: "erase-confirm" });
  const button = h("button", { class: "danger", id: "erase-submit", disabled: true }, "Erase for good");
  const result = h("div", { id: "erase-result" });
  check.addEventListener("change", () => { button.disabled = !check.checked; });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", "/api/records/" + rec + "/erase", { confirm: true });
      result.replaceChildren(h("p", { class: "ok", role: "status" }, "Erased. ", h("a", { href: "#/records" }, "Back to my records")));
    } catch (e) {
      result.replaceChildren(errorBox(e));
      button.disabled = false;
    }
  });
  page("Erase “" + recordName(r) + "”",
    h("div", { class: "statement warning" },
      h("p", {}, h("strong", {}, "What erasing does: "), "every share of this record ends now" +
        (live ? " (" + live + " active)" : "") + ", and every node of the network deletes its stored copy and refuses to serve it. Nobody, you included, can open it through the network again."),
      h("p", {}, h("strong", {}, "What erasing cannot undo: "), "it cannot be reversed — keep your own copy if you may need it. It cannot reach copies that people you shared with already saved. And the network's history keeps that the record existed, when it was stored, shared and read: only its content is gone.")),
    h("p", {}, h("label", { class: "choice" }, check, " I understand that this cannot be undone")),
    h("p", {}, button, " ", h("a", { href: "#/records" }, "Keep it")),
    result);
}

// ---- Shared with me ------------------------------------------------------------------------

async function sharedPage() {
  const mine = h("div", { class: "statement" },
    h("p", {}, "To receive records, give people your identity:"),
    h("p", { class: "ident-full", id: "my-identity" }, me ? me.identity : ""),
    h("button", { class: "secondary small", onclick: copyIdentity }, "Copy my identity"));
  const list = h("div", { id: "shared" }, h("p", { class: "loading" }, "Loading…"));
  page("Shared with me", mine, h("h2", {}, "Records shared with you"), list);
  let items;
  try {
    items = await api("GET", "/api/shared");
  } catch (e) {
    list.replaceChildren(errorBox(e));
    return;
  }
  if (items.length === 0) {
    list.replaceChildren(h("p", { class: "empty" }, "Nobody has shared a record with you yet."));
    return;
  }
  list.replaceChildren(h("ul", { class: "cards" }, items.map((x) => sharedCard(x))));
}

function sharedCard(x) {
  const g = x.grant;
  const r = x.record;
  const bar = h("progress", { max: 100, value: 0, hidden: true, "aria-label": "Download progress" });
  const out = h("div", { class: "card-result", "aria-live": "polite" });
  const purpose = h("select", { "aria-label": "Why you open it" }, purposes.map(([v, l]) => h("option", { value: v, selected: v === g.purpose }, l)));
  const live = g.status === "live";
  const button = h("button", { class: "open" }, "Open and save");
  button.addEventListener("click", () => openRecord(g.record, purpose.value, { bar, out, button }));
  return h("li", { class: "card", "data-record": g.record, "data-status": g.status },
    h("h3", {}, recordName(r, g.record)),
    r && !r.name ? h("p", { class: "hint" }, "Its name and type are sealed inside it: you see them once you open it.") : null,
    h("p", {}, badge(g.status), " Shared by ", person(null, g.owner), " for ", purposeText(g.purpose),
      ", " + lasts(g), r ? " · " + size(r.size) : ""),
    x.refusal ? h("p", { class: "refusal refusal-" + g.status }, x.refusal, g.status === "not_yet_valid" && g.from ? " It starts on " + when(g.from) + "." : "") : null,
    live ? h("div", { class: "row-actions" }, h("label", {}, "Reason: ", purpose), button) : null,
    bar, out);
}

// openRecord has the app fetch and open a record, following its progress, then saves it.
async function openRecord(rec, purpose, ui) {
  const job = newJob();
  const bar = ui && ui.bar;
  const out = ui && ui.out;
  const show = (text, isError) => { if (out) { out.replaceChildren(isError ? errorBox({ message: text }) : h("p", { class: "phase" }, text)); } else say(text, isError); };
  if (ui) ui.button.disabled = true;
  if (bar) { bar.hidden = false; bar.value = 0; }
  show("Asking the network…");
  const stop = follow(job, (p) => {
    if (p.total <= 0) return;
    const pct = Math.floor((100 * p.done) / p.total);
    if (p.phase === "fetch") { if (bar) bar.value = pct * 0.8; show("Fetching the sealed copy… " + pct + "%"); }
    if (p.phase === "open") { if (bar) bar.value = 80 + pct * 0.2; show("Unsealing… " + pct + "%"); }
  });
  try {
    const res = await api("POST", "/api/records/" + rec + "/open", { purpose, job });
    stop();
    if (bar) bar.value = 100;
    const a = h("a", { href: res.download, download: res.name, class: "saved" }, res.name);
    document.body.append(a);
    a.click();
    a.remove();
    show("Saved “" + res.name + "” (" + size(res.size) + ") to your downloads.");
  } catch (e) {
    stop();
    if (bar) bar.hidden = true;
    show(e.message, true);
  } finally {
    if (ui) ui.button.disabled = false;
  }
}

async function copyIdentity() {
  try {
    await navigator.clipboard.writeText(me.identity);
    say("Your identity is copied: paste it to the person who will share with you.");
  } catch (e) {
    const sel = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents(document.getElementById("my-identity"));
    sel.removeAllRanges();
    sel.addRange(range);
    say("Your identity is selected: copy it with Ctrl+C (or ⌘C).");
  }
}

// ---- Contacts ------------------------------------------------------------------------------

async function contactsPage() {
  const name = h("input", { type: "text", id: "contact-name", required: true, maxlength: 100, autocomplete: "off" });
  const ident = h("textarea", { id: "contact-identity", rows: 2, required: true, spellcheck: "false", autocomplete: "off", placeholder: "rrec1…" });
  const result = h("div", { id: "contact-result" });
  const form = h("form", { class: "form", id: "contact-form" },
    h("label", { for: "contact-name" }, "Name"), name,
    h("label", { for: "contact-identity" }, "Their identity"),
    h("p", { class: "hint" }, "The line starting with rrec1 they gave you."), ident,
    h("button", { type: "submit", id: "contact-submit" }, "Add to contacts"), result);
  const list = h("div", { id: "contacts" }, h("p", { class: "loading" }, "Loading…"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const c = await api("POST", "/api/contacts", { name: name.value, identity: ident.value.trim() });
      result.replaceChildren(h("p", { class: "ok", role: "status" }, "Added " + c.name + "."));
      name.value = "";
      ident.value = "";
      await fillContacts(list);
    } catch (err) {
      result.replaceChildren(errorBox(err));
    }
  });
  page("Contacts",
    h("p", { class: "lead" }, "The names you know people by. The app shows them instead of long identities, and you can share with them by name."),
    list, h("h2", {}, "Add someone"), form);
  await fillContacts(list);
}

async function fillContacts(list) {
  let book;
  try {
    book = await api("GET", "/api/contacts");
  } catch (e) {
    list.replaceChildren(errorBox(e));
    return;
  }
  if (book.length === 0) {
    list.replaceChildren(h("p", { class: "empty" }, "No contacts yet."));
    return;
  }
  list.replaceChildren(table("Your contacts", ["Name", "Identity", ""],
    book.map((c) => h("tr", { "data-contact": c.name },
      td("Name", h("strong", {}, c.name)),
      td("Identity", h("span", { class: "ident", title: c.identity }, shortID(c.identity))),
      td("", h("button", { class: "secondary small", onclick: async () => {
        if (!(await confirmDialog("Remove " + c.name + "?", "Their shares stay as they are; the app will show their identity instead of their name.", "Remove"))) return;
        try { await api("DELETE", "/api/contacts/" + encodeURIComponent(c.name)); } catch (e) { say(e.message, true); }
        await fillContacts(list);
      } }, "Remove"))))));
}

// ---- Network -------------------------------------------------------------------------------

async function networkPage() {
  page("Network", h("p", { class: "loading" }, "Asking every node…"));
  let nw;
  try {
    nw = await api("GET", "/api/network");
  } catch (e) {
    page("Network", errorBox(e));
    return;
  }
  const height = nw.nodes.reduce((m, n) => Math.max(m, n.height || 0), 0);
  const enough = nw.up >= nw.needed;
  page("Network",
    h("p", { class: "lead " + (enough ? "ok" : "error"), id: "network-summary" },
      nw.up + " of " + nw.nodes.length + " nodes are up. " +
      (enough ? "Records can be stored, shared and opened." : "Too few nodes answer: records cannot be opened until " + nw.needed + " do.")),
    h("p", { class: "hint" }, "Network “" + nw.chain + "”, block " + height + ". It keeps working with up to " + nw.tolerates +
      " node" + (nw.tolerates === 1 ? "" : "s") + " down or dishonest; opening a shared record needs " + nw.needed + " of them."),
    table("Nodes", ["Node", "State", "Block", "Last block"],
      nw.nodes.map((n) => h("tr", {},
        td("Node", n.name),
        td("State", n.up ? h("span", { class: "badge badge-live" }, "Up") : h("span", { class: "badge badge-revoked" }, "Down: " + n.why)),
        td("Block", n.up ? String(n.height) : "—"),
        td("Last block", n.up ? when(n.time) : "—")))));
}

// ---- Welcome: no identity yet --------------------------------------------------------------

// welcomePage offers to create an identity or to open an identity file. Either happens in the
// app on this computer: the passphrase goes to it over this page's private session, and the
// keys never come back.
function welcomePage() {
  const pass = h("input", { type: "password", id: "create-pass", autocomplete: "new-password", minlength: 10, required: true });
  const again = h("input", { type: "password", id: "create-pass-again", autocomplete: "new-password", required: true });
  const createOut = h("div", { id: "create-result", "aria-live": "polite" });
  const createButton = h("button", { type: "submit", id: "create-submit" }, "Create my identity");
  const create = h("form", { class: "form", id: "create-form" },
    h("p", {}, "New here? The app makes your keys on this computer and saves them in a file, locked with a passphrase you choose. " +
      "The file goes in ", h("span", { class: "ident" }, me.create_in), "."),
    h("label", { for: "create-pass" }, "Choose a passphrase"),
    h("p", { class: "hint", id: "create-pass-hint" }, "At least 10 characters; a few words you will remember make a good one. If it is forgotten, nobody can recover your records, so write it down and keep it safe."),
    pass,
    h("label", { for: "create-pass-again" }, "The same passphrase again"), again,
    createButton, createOut);
  pass.setAttribute("aria-describedby", "create-pass-hint");
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (pass.value !== again.value) {
      createOut.replaceChildren(errorBox({ message: "The two passphrases are not the same: type them again." }));
      return;
    }
    createButton.disabled = true;
    createOut.replaceChildren(h("p", { class: "phase" }, "Making your keys and locking them with your passphrase… this takes a few seconds."));
    try {
      await api("POST", "/api/identity/create", { passphrase: pass.value });
      pass.value = again.value = "";
      await begin("#/backup");
    } catch (err) {
      createOut.replaceChildren(errorBox(err));
      createButton.disabled = false;
    }
  });

  const path = h("input", { type: "text", id: "open-path", required: true, spellcheck: "false", autocomplete: "off",
    value: me.existing || "", placeholder: "/home/you/identity.key", "aria-describedby": "open-path-hint" });
  const openPass = h("input", { type: "password", id: "open-pass", autocomplete: "current-password", "aria-describedby": "open-pass-hint" });
  const openOut = h("div", { id: "open-result", "aria-live": "polite" });
  const openButton = h("button", { type: "submit", id: "open-submit" }, "Open my identity");
  const open = h("form", { class: "form", id: "open-form" },
    me.existing ? h("p", {}, "An identity file is already on this computer, at the place below: open it with its passphrase.")
      : h("p", {}, "Made with 'rrec keygen', or a backup copy you saved: tell the app where it is on this computer."),
    h("label", { for: "open-path" }, "Where the file is"),
    h("p", { class: "hint", id: "open-path-hint" }, "The full path, such as /home/you/identity.key."), path,
    h("label", { for: "open-pass" }, "Its passphrase"),
    h("p", { class: "hint", id: "open-pass-hint" }, "Leave it empty if the file has none."), openPass,
    openButton, openOut);
  open.addEventListener("submit", async (e) => {
    e.preventDefault();
    openButton.disabled = true;
    openOut.replaceChildren(h("p", { class: "phase" }, "Opening your identity…"));
    try {
      await api("POST", "/api/identity/open", { path: path.value, passphrase: openPass.value });
      openPass.value = "";
      await begin("#/records");
    } catch (err) {
      openOut.replaceChildren(errorBox(err));
      openButton.disabled = false;
    }
  });

  page("Welcome",
    h("p", { class: "lead" }, "To keep your medical records here you need an identity: your own keys, which stay on this computer. " +
      "Your records are locked with them before they leave it, and only you decide who may open them."),
    h("div", { class: "choices" },
      h("section", { class: "card", "aria-labelledby": "create-title" }, h("h2", { id: "create-title" }, "Create my identity"), create),
      h("section", { class: "card", "aria-labelledby": "open-title", id: "open-section" },
        h("h2", { id: "open-title" }, "Use an identity file I already have"), open)));
}

// backupPage asks the user to save a copy of the identity file just created. The link is a
// plain download of the locked file: this page never reads it.
function backupPage() {
  if (!me.backup) { location.hash = "#/records"; return; }
  const check = h("input", { type: "checkbox", id: "backup-confirm" });
  const next = h("button", { id: "backup-continue", disabled: true }, "Continue to my records");
  check.addEventListener("change", () => { next.disabled = !check.checked; });
  const nav = document.querySelector("header nav");
  nav.hidden = true; // the way on is through the checkbox
  next.addEventListener("click", () => {
    sessionStorage.setItem("backed-up:" + me.identity, "yes");
    nav.hidden = false;
    location.hash = "#/records";
  });
  page("Save a copy of your identity",
    h("p", { class: "lead ok" }, "Your identity is made. It is saved on this computer, locked with your passphrase, in:"),
    h("p", { class: "ident-full path", id: "identity-file" }, me.identity_file),
    h("div", { class: "statement warning" },
      h("p", {}, h("strong", {}, "Why a copy matters: "), "this file is the only key to your records. " +
        "If this computer is lost, broken or wiped and you have no copy, nobody can open your records again: not you, and not the people who run the network."),
      h("p", {}, h("strong", {}, "Where to keep it: "), "somewhere other than this computer, such as a USB stick kept at home, or your own cloud storage. " +
        "The copy is locked with your passphrase: you will need both, so remember the passphrase, but do not store it next to the file.")),
    h("p", {}, h("a", { href: me.backup, download: "", class: "button", id: "backup-download" }, "Download a backup copy")),
    h("p", {}, h("label", { class: "choice" }, check, " I have saved a copy somewhere safe")),
    h("p", {}, next));
}

// begin reloads who the app acts for, now that it has an identity, and goes to hash.
async function begin(hash) {
  me = await api("GET", "/api/me");
  showMe();
  if (location.hash === hash) await route();
  else location.hash = hash;
}

function showMe() {
  document.querySelector("header nav").hidden = !!me.welcome;
  document.getElementById("me-line").textContent = me.welcome ? "" :
    "You are " + shortID(me.identity) + " on network “" + me.chain + "”.";
}

// ---- routing -------------------------------------------------------------------------------

const routes = [
  [/^#\/records$/, recordsPage, "records"],
  [/^#\/share\/([0-9a-f]{64})$/, sharePage, "records"],
  [/^#\/history\/([0-9a-f]{64})$/, historyPage, "records"],
  [/^#\/erase\/([0-9a-f]{64})$/, erasePage, "records"],
  [/^#\/shares$/, sharesPage, "shares"],
  [/^#\/shared$/, sharedPage, "shared"],
  [/^#\/network$/, networkPage, "network"],
  [/^#\/contacts$/, contactsPage, "contacts"],
  [/^#\/backup$/, backupPage, "backup"],
];

async function route() {
  const hash = location.hash || "#/records";
  if (me.welcome) { // nothing else works without an identity
    main.dataset.page = "welcome";
    main.dataset.route = hash;
    welcomePage();
    main.dataset.ready = "true";
    return;
  }
  for (const [re, fn, nav] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    say("");
    main.dataset.page = nav;
    main.dataset.ready = "";
    await fn(...m.slice(1));
    if (location.hash && location.hash !== hash) return; // the user moved on meanwhile
    main.dataset.route = hash;
    main.dataset.ready = "true";
    main.focus({ preventScroll: true });
    return;
  }
  location.hash = "#/records";
}

async function start() {
  try {
    me = await api("GET", "/api/me");
    showMe();
  } catch (e) {
    main.replaceChildren(errorBox(e));
    return;
  }
  window.addEventListener("hashchange", route);
  // An identity made in this run whose backup was not confirmed yet: ask again.
  if (me.backup && !sessionStorage.getItem("backed-up:" + me.identity)) history.replaceState(null, "", "#/backup");
  await route();
}

start();
