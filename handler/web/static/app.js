// The search page: no framework, no build step, no CDN, nothing inline (the page's CSP allows only
// its own files); the result cards are results.js. Every URL is relative to the page's <base>, so the page works at / and behind a
// stage prefix such as /Prod/. The search state lives in the URL (?q=&city=&mode=, or
// ?similar=<id>&name= with the last query kept), so a search can be shared and reloaded, and the
// back button steps through searches. Text from the service is only ever set as text (DOM nodes).
"use strict";

const form = document.getElementById("search");
const qInput = document.getElementById("q");
const citySelect = document.getElementById("city");
const statusLine = document.getElementById("status");
const notice = document.getElementById("notice");
const results = document.getElementById("results");
const moreButton = document.getElementById("more");
const PAGE = 10;
const MAX_CHARS = Number(qInput.getAttribute("maxlength"));  // QUERY_MAX_CHARS, rendered into the page
// The modes and the default come from the server, rendered into the form (`handler.web.pages`).
const MODE_RADIOS = [...form.querySelectorAll("input[name=mode]")];
const MODES = MODE_RADIOS.map((radio) => radio.value);
const DEFAULT_MODE = (MODE_RADIOS.find((radio) => radio.defaultChecked) || MODE_RADIOS[0]).value;

function say(text, kind = "") {
  statusLine.textContent = text;
  statusLine.className = kind;
}

function quoted(q) { // the box holds the whole query; the status line echoes its start
  const chars = [...q];
  return `“${chars.length > 100 ? `${chars.slice(0, 100).join("")}…` : q}”`;
}

function plural(n) {
  return `${n} result${n === 1 ? "" : "s"}`;
}

function currentMode() {
  const checked = form.querySelector("input[name=mode]:checked");
  return checked ? checked.value : DEFAULT_MODE;
}

function stateFromUrl() {
  const params = new URLSearchParams(location.search);
  return {
    q: params.get("q") || "",
    city: params.get("city") || "",
    mode: MODES.includes(params.get("mode")) ? params.get("mode") : DEFAULT_MODE,
    similar: params.get("similar") || "",
    name: params.get("name") || "",
  };
}

function showState(state) {
  qInput.value = state.q;
  ensureCityOption(state.city);
  citySelect.value = state.city;
  for (const radio of MODE_RADIOS) radio.checked = radio.value === state.mode;
}

function ensureCityOption(city) {
  if (city && ![...citySelect.options].some((o) => o.value === city)) {
    citySelect.add(new Option(city, city));
  }
}

// An error body, in words a person can act on (the API's own wording is for developers).
function describeError(status, body) {
  const issue = status === 422 && body && Array.isArray(body.detail) ? body.detail[0] || {} : null;
  if (issue) {
    const parameter = (issue.loc || []).slice(-1)[0];
    if (parameter === "q") {
      return /too_long$/.test(issue.type || "") ? `That search is too long: use at most ${MAX_CHARS} characters.` : "Type something to search for.";
    }
    if (parameter === "id") return "That startup link is broken. Search for the startup by its name instead.";
    if (parameter === "city") return "That city name is too long. Pick a city from the list.";
    return "That search link is broken. Start a new search.";
  }
  const code = body && body.error;
  if (code === "not_found") return "That startup is not in the index any more. Search for it by its name.";
  if (code === "hybrid_unavailable") return "Hybrid search is not available here right now. Choose Neural or Text.";
  if (status === 503) return "Search is not available right now. Try again in a moment.";
  return "Something went wrong on our side. Try again in a moment.";
}

async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" } });
  } catch (error) {
    throw new Error("The search service could not be reached. Check your connection and try again.");
  }
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (!response.ok) throw new Error(describeError(response.status, body));
  return body;
}

// -- searching ---------------------------------------------------------------------------------------
let generation = 0; // answers of superseded searches are dropped
let current = stateFromUrl(); // what is shown
let shown = new Set(); // ids on the page
let pattern = null;

function showSimilar(id, name) { // the last query and mode are kept: choosing a mode searches it again
  navigate({ similar: id, name, city: citySelect.value, q: current.q, mode: current.mode }, true);
}

function request(state, offset) {
  const params = state.similar ? new URLSearchParams({ id: state.similar }) : new URLSearchParams({ q: state.q, mode: state.mode });
  params.set("limit", String(PAGE + 1)); // one more than shown: is there a next page?
  if (offset) params.set("offset", String(offset));
  if (state.city) params.set("city", state.city);
  return `api/${state.similar ? "similar" : "search"}?${params}`;
}

function summary(state, count, body) {
  const where = state.city ? ` in ${state.city}` : "";
  if (state.similar) return `Startups like ${state.name || "this one"}${where}: ${plural(count)}`;
  const took = body && body.took_ms ? Math.round(body.took_ms.embed + body.took_ms.search) : null;
  return `${quoted(state.q)}${where}: ${plural(count)}${took === null ? "" : ` (${body.mode}, ${took} ms)`}`;
}

function busy(on) { // the Search button stays usable: a new search replaces a slow one
  results.setAttribute("aria-busy", on ? "true" : "false");
  moreButton.disabled = on;
}

function add(body, focusFirst) {
  const fresh = body.result.slice(0, PAGE).map((record, i) => [record, body.hits[i]]).filter(([, hit]) => !shown.has(hit.id));
  const cards = fresh.map(([record, hit]) => { shown.add(hit.id); return card(record, hit, pattern, showSimilar); });
  results.append(...cards);
  moreButton.hidden = body.result.length <= PAGE;
  if (focusFirst && cards.length) cards[0].focus();
}

async function run(state, focus = false) {
  const mine = ++generation;
  current = state;
  shown = new Set();
  results.replaceChildren();
  notice.hidden = true;
  moreButton.hidden = true;
  if (!state.similar && !state.q.trim()) {
    say(state.q ? "Type something to search for." : "Type what you are looking for, or try an example.", state.q ? "error" : "");
    return;
  }
  pattern = state.similar ? null : wordPattern(state.q);
  document.body.classList.add("searched");
  say("Searching…", "loading");
  busy(true);
  try {
    const body = await getJson(request(state, 0));
    if (mine !== generation) return;
    if (!body.result.length) {
      say(`No results${state.similar ? "" : ` for ${quoted(state.q)}`}${state.city ? ` in ${state.city}` : ""}. Try other words, another mode or any city.`);
      return;
    }
    add(body, false);
    notice.hidden = !body.weak_match;
    say(summary(state, shown.size, body));
    if (focus) results.focus();
  } catch (error) {
    if (mine === generation) say(error.message, "error");
  } finally {
    if (mine === generation) busy(false);
  }
}

async function more() {
  const mine = generation;
  const state = current;
  const before = statusLine.textContent;
  moreButton.textContent = "Loading…";
  busy(true);
  try {
    const body = await getJson(request(state, shown.size));
    if (mine !== generation) return;
    add(body, true);
    say(summary(state, shown.size, body));
  } catch (error) {
    if (mine === generation) say(`${error.message} (${before})`, "error");
  } finally {
    if (mine === generation) {
      busy(false);
      moreButton.textContent = "More results";
    }
  }
}

function urlFor(state) {
  const params = new URLSearchParams();
  if (state.similar) {
    params.set("similar", state.similar);
    if (state.name) params.set("name", state.name);
  }
  if (state.q) {
    params.set("q", state.q);
    if (state.mode !== DEFAULT_MODE) params.set("mode", state.mode);
  }
  if (state.city) params.set("city", state.city);
  const query = params.toString();
  return query ? `./?${query}` : "./";
}

function navigate(partial, focus = false) {
  const state = { q: "", city: "", mode: currentMode(), similar: "", name: "", ...partial };
  if (!state.similar && !state.q.trim()) { // nothing to search: say so, stay in the box
    say("Type something to search for.", "error");
    qInput.focus();
    return;
  }
  history.pushState(null, "", urlFor(state));
  showState(state);
  run(state, focus);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  navigate({ q: qInput.value, city: citySelect.value, mode: currentMode() }, true);
});
for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => navigate({ q: example.textContent, city: citySelect.value, mode: currentMode() }, true));
}
citySelect.addEventListener("change", () => {
  if (current.similar) navigate({ ...current, city: citySelect.value });
  else if (current.q) navigate({ q: current.q, city: citySelect.value, mode: currentMode() });
});
for (const radio of MODE_RADIOS) {
  // a mode is a way to search: choosing one searches the box's words (the last query, while viewing similar startups)
  radio.addEventListener("change", () => { if (qInput.value.trim()) navigate({ q: qInput.value, city: citySelect.value, mode: currentMode() }); });
}
moreButton.addEventListener("click", more);
window.addEventListener("popstate", () => { const state = stateFromUrl(); showState(state); run(state); });

async function loadCities() {
  try {
    const body = await getJson("api/cities?limit=200");
    const chosen = citySelect.value;
    for (const { city, count } of body.cities) {
      if (![...citySelect.options].some((o) => o.value === city)) citySelect.add(new Option(`${city} (${count})`, city));
    }
    citySelect.value = chosen;
  } catch (error) {
    // the search still works without the list; say so once
    if (!statusLine.textContent) say("The list of cities is not available; search works without it.", "error");
  }
}

showState(current);
loadCities().then(() => showState(stateFromUrl()));
run(current);
