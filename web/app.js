// The lmlab web page: a conversation with the server. Each turn sends the
// whole history (earlier questions and answers) to /v1/chat/completions with
// "stream": true, shows the answer as it arrives, then that answer's dated
// sources ("lmlab_sources"), whether it was grounded, and, when the server
// runs with --monitor, whether the model is probably guessing
// ("lmlab_ignorance"). No build step, no external assets.
//
// ?q=QUESTION asks at once (the browser test uses it). For scripts to wait on:
// body[data-state] becomes "done" or "error" when a turn ends, and
// body[data-turns] counts the answered turns.
"use strict";

const $ = (id) => document.getElementById(id);

// The conversation as the server sees it: [{role, content}], answered turns only.
const history = [];

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

function renderSources(turn, sources, grounding) {
  const list = turn.querySelector(".sources");
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
  turn.querySelector(".sources-box").hidden = !(sources && sources.length);
  const g = turn.querySelector(".grounding");
  if (!grounding) {
    g.textContent = "";
  } else if (grounding.grounded) {
    g.className = "grounding";
    const n = (sources || []).length;
    g.textContent = "Grounded in " + n + " source" + (n === 1 ? "" : "s") + " as of " + formatDate(grounding.today) + ".";
  } else {
    g.className = "grounding ungrounded";
    g.textContent = "Ungrounded: " + (grounding.reason || "no evidence") + ".";
  }
}

// The ood monitor's verdict (lmlab serve --monitor): is the model guessing?
function renderIgnorance(turn, ig) {
  const g = turn.querySelector(".grounding");
  const note = document.createElement("span");
  if (ig.unavailable !== undefined) {
    note.className = "ignorance unavailable";
    note.textContent = " Guessing check unavailable: " + ig.unavailable + ".";
  } else {
    note.className = "ignorance " + (ig.flagged ? "guessing" : "confident");
    note.textContent = ig.flagged
      ? " The model is probably guessing (ignorance " + ig.ignorance.toFixed(2) + ")."
      : " Ignorance " + ig.ignorance.toFixed(2) + " (within the calibrated range).";
  }
  g.appendChild(note);
}

function headers() {
  const h = { "Content-Type": "application/json", "Accept": "text/event-stream" };
  const token = $("token").value || localStorage.getItem("lmlab-token") || "";
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function newTurn(question) {
  const turn = $("turn-template").content.firstElementChild.cloneNode(true);
  turn.querySelector(".question").textContent = question;
  turn.querySelector(".sources-box").hidden = true;
  $("conversation").appendChild(turn);
  turn.scrollIntoView({ block: "nearest" });
  return turn;
}

// Reads the event stream of one answer into `turn`; returns the answer text.
async function readAnswer(res, turn) {
  const answerBox = turn.querySelector(".answer");
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let answer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the answer stream ended early");
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      if (data === "[DONE]") return answer;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || "the server failed");
      const choice = chunk.choices && chunk.choices[0];
      if (choice && choice.delta && choice.delta.content) {
        answer += choice.delta.content;
        answerBox.textContent = answer;
      }
      if (chunk.lmlab_sources) renderSources(turn, chunk.lmlab_sources, chunk.lmlab_grounding);
      if (chunk.lmlab_ignorance) renderIgnorance(turn, chunk.lmlab_ignorance);
      if (chunk.usage) setStatus("Done: " + chunk.usage.completion_tokens + " tokens.", false);
    }
  }
}

async function ask(question) {
  const button = $("ask");
  button.disabled = true;
  $("new-conversation").disabled = true;
  document.body.dataset.state = "asking";
  setStatus("Searching and answering…", false);
  if ($("token").value) localStorage.setItem("lmlab-token", $("token").value);
  const turn = newTurn(question);
  const messages = history.concat([{ role: "user", content: question }]);
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ messages: messages, stream: true, stream_options: { include_usage: true } }),
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
    const answer = await readAnswer(res, turn);
    if (!answer) turn.querySelector(".answer").textContent = "(the model gave an empty answer)";
    // Only answered turns join the history the next question is sent with.
    history.push({ role: "user", content: question }, { role: "assistant", content: answer });
    $("question").value = "";
    if ($("status").textContent.startsWith("Searching")) setStatus("Done.", false);
    document.body.dataset.turns = String(history.length / 2);
    document.body.dataset.state = "done";
  } catch (e) {
    // The refused turn stays on the page, marked, and out of the history; the
    // question stays in the box to try again.
    turn.classList.add("failed");
    turn.querySelector(".answer").textContent = "Not answered: " + e.message;
    setStatus("Error: " + e.message, true);
    document.body.dataset.state = "error";
  } finally {
    button.disabled = false;
    $("new-conversation").disabled = history.length === 0 && !$("conversation").children.length;
  }
}

function clearConversation() {
  history.length = 0;
  $("conversation").textContent = "";
  document.body.dataset.turns = "0";
  document.body.dataset.state = "idle";
  $("new-conversation").disabled = true;
  setStatus("", false);
  $("question").focus();
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
    if (q && !$("ask").disabled) ask(q);
  });
  $("question").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  $("new-conversation").addEventListener("click", clearConversation);
  const q = new URLSearchParams(location.search).get("q");
  if (q) {
    $("question").value = q;
    ask(q);
  }
}

init();
