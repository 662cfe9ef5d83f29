// The lmlab web page: asks /v1/chat/completions with "stream": true, shows
// the answer as it arrives and then the dated sources the server returns in
// "lmlab_sources". No build step, no external assets.
//
// ?q=QUESTION asks at once (the browser test uses it); body[data-state]
// becomes "done" or "error" when an answer ends, for scripts to wait on.
"use strict";

const $ = (id) => document.getElementById(id);

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function formatDate(iso) {
  // "2026-11-27" -> "Nov 27, 2026" (UTC, as the server dates evidence)
  const d = new Date(iso + "T00:00:00Z");
  if (isNaN(d)) return iso;
  return d.toLocaleDateString("en-US", { year: "numeric", month: "short", day: "2-digit", timeZone: "UTC" });
}

function safeLink(url) {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) {
    return null;
  }
}

function renderSources(sources, grounding) {
  const list = $("sources");
  list.textContent = "";
  for (const s of sources || []) {
    const li = document.createElement("li");
    if (s.cited) li.className = "cited";
    const head = document.createElement("div");
    head.className = "src-head";
    const num = document.createElement("span");
    num.className = "src-num";
    num.textContent = "[" + s.number + "]";
    head.appendChild(num);
    const date = document.createElement("time");
    date.className = "src-date" + (s.date ? "" : " undated");
    if (s.date) date.dateTime = s.date;
    date.textContent = s.date ? formatDate(s.date) : "undated";
    head.appendChild(date);
    const href = safeLink(s.url || "");
    const title = document.createElement(href ? "a" : "span");
    title.className = "src-title";
    title.textContent = s.title || s.url || s.source || "(untitled)";
    if (href) {
      title.href = href;
      title.target = "_blank";
      title.rel = "noopener noreferrer";
    }
    head.appendChild(title);
    const domain = document.createElement("span");
    domain.className = "src-domain";
    domain.textContent = s.source || "";
    head.appendChild(domain);
    if (s.cited) {
      const badge = document.createElement("span");
      badge.className = "src-badge";
      badge.textContent = "cited";
      head.appendChild(badge);
    }
    li.appendChild(head);
    if (s.snippet) {
      const p = document.createElement("p");
      p.className = "src-snippet";
      p.textContent = s.snippet;
      li.appendChild(p);
    }
    list.appendChild(li);
  }
  const g = $("grounding");
  if (!grounding) {
    g.textContent = "";
  } else if (grounding.grounded) {
    g.className = "";
    const n = (sources || []).length;
    g.textContent = "Grounded in " + n + " source" + (n === 1 ? "" : "s") + " as of " + formatDate(grounding.today) + ".";
  } else {
    g.className = "ungrounded";
    g.textContent = "Ungrounded: " + (grounding.reason || "no evidence") + ".";
  }
}

// The ood monitor's verdict (lmlab serve --monitor): is the model guessing?
function renderIgnorance(ig) {
  const g = $("grounding");
  if (ig.unavailable !== undefined) return;
  const note = document.createElement("span");
  note.className = ig.flagged ? "guessing" : "confident";
  note.textContent = ig.flagged
    ? " The model is probably guessing (ignorance " + ig.ignorance.toFixed(2) + ")."
    : " Ignorance " + ig.ignorance.toFixed(2) + " (within the calibrated range).";
  g.appendChild(note);
}

function headers() {
  const h = { "Content-Type": "application/json", "Accept": "text/event-stream" };
  const token = $("token").value || localStorage.getItem("lmlab-token") || "";
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

async function ask(question) {
  const button = $("ask");
  button.disabled = true;
  document.body.dataset.state = "asking";
  $("answer").textContent = "";
  renderSources([], null);
  setStatus("Searching and answering…", false);
  if ($("token").value) localStorage.setItem("lmlab-token", $("token").value);
  let answer = "";
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ messages: [{ role: "user", content: question }], stream: true,
                             stream_options: { include_usage: true } }),
    });
    if (!res.ok) {
      let message = "HTTP " + res.status;
      try {
        const body = await res.json();
        if (body && body.error && body.error.message) message = body.error.message;
      } catch (e) { /* not JSON */ }
      if (res.status === 401) $("token-label").hidden = false;
      throw new Error(message);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let finished = false;
    while (!finished) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (!data) continue;
        if (data === "[DONE]") { finished = true; break; }
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || "the server failed");
        const choice = chunk.choices && chunk.choices[0];
        if (choice && choice.delta && choice.delta.content) {
          answer += choice.delta.content;
          $("answer").textContent = answer;
        }
        if (chunk.lmlab_sources) renderSources(chunk.lmlab_sources, chunk.lmlab_grounding);
        if (chunk.lmlab_ignorance) renderIgnorance(chunk.lmlab_ignorance);
        if (chunk.usage) setStatus("Done: " + chunk.usage.completion_tokens + " tokens.", false);
      }
    }
    if (!finished) throw new Error("the answer stream ended early");
    if (!answer) $("answer").textContent = "(the model gave an empty answer)";
    if ($("status").textContent.startsWith("Searching")) setStatus("Done.", false);
    document.body.dataset.state = "done";
  } catch (e) {
    setStatus("Error: " + e.message, true);
    document.body.dataset.state = "error";
  } finally {
    button.disabled = false;
  }
}

async function init() {
  try {
    const res = await fetch("/health");
    const h = await res.json();
    $("today").textContent = formatDate(h.today);
    $("today").dateTime = h.today;
    $("model").textContent = "Model: " + h.model + (h.search ? " with search" : " (no search)");
    if (h.auth) $("token-label").hidden = false;
  } catch (e) {
    $("today").textContent = new Date().toLocaleDateString("en-US", { year: "numeric", month: "short", day: "2-digit" });
  }
  $("ask-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("question").value.trim();
    if (q) ask(q);
  });
  $("question").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  const q = new URLSearchParams(location.search).get("q");
  if (q) {
    $("question").value = q;
    ask(q);
  }
}

init();
