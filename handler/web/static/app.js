// The search page: no framework, no build step, no CDN, nothing inline (the page's CSP allows only
// its own files); the result cards are results.js. Every URL is relative to the page's <base>, so the
// page works at / and behind a stage prefix such as /Prod/. The catalogue's schema (its words, cards
// and filters) is rendered into the form's data-schema attribute by the server. The search state
// lives in the URL (?q=&mode= and the filters, or ?similar=<id>&name= with the last query kept), so
// a search can be shared and reloaded, and the back button steps through searches. Text from the
// service is only ever set as text (DOM nodes).
"use strict";

const form = document.getElementById("search");
const qInput = document.getElementById("q");
const statusLine = document.getElementById("status");
const notice = document.getElementById("notice");
const results = document.getElementById("results");
const moreButton = document.getElementById("more");
const PAGE = 10;
const SCHEMA = JSON.parse(form.dataset.schema);
const DISPLAY = { ...SCHEMA.display, title: SCHEMA.title,
  texts: Object.entries(SCHEMA.fields).filter(([name, type]) => type.startsWith("text") && name !== SCHEMA.title).map(([name]) => name) };
const NOUN = DISPLAY.noun || "record";
const NOUNS = /s$/.test(NOUN) ? NOUN : /[^aeiou]y$/.test(NOUN) ? `${NOUN.slice(0, -1)}ies` : `${NOUN}s`;
const MAX_CHARS = Number(qInput.getAttribute("maxlength")); // QUERY_MAX_CHARS, rendered into the page
const MAX_OFFSET = Number(form.dataset.maxOffset); // the API's last offset, rendered into the page
// The modes and the default come from the server, rendered into the form (`handler.web.pages`).
const MODE_RADIOS = [...form.querySelectorAll("input[name=mode]")];
const MODES = MODE_RADIOS.map((radio) => radio.value);
const DEFAULT_MODE = (MODE_RADIOS.find((radio) => radio.defaultChecked) || MODE_RADIOS[0]).value;
const KEYWORDS = [...form.querySelectorAll("select[data-keyword]")]; // one list per keyword field
const RANGES = [...form.querySelectorAll("input[data-range]")]; // a min and a max per numeric field
const FILTER_NAMES = [...KEYWORDS, ...RANGES].map((control) => control.name);

function capitalized(text) { return text.charAt(0).toUpperCase() + text.slice(1); }
function label(field) { return capitalized(field.replace(/_/g, " ").trim()); }

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

// The filters: {name: value} for every filter parameter that has a value (keyword lists, range bounds).
function filtersFromForm() {
  const filters = {};
  for (const control of [...KEYWORDS, ...RANGES]) {
    if (control.value.trim()) filters[control.name] = control.value.trim();
  }
  return filters;
}

function stateFromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTER_NAMES) if (params.get(name)) filters[name] = params.get(name);
  return {
    q: params.get("q") || "",
    mode: MODES.includes(params.get("mode")) ? params.get("mode") : DEFAULT_MODE,
    similar: params.get("similar") || "",
    name: params.get("name") || "",
    filters,
  };
}

function showState(state) {
  qInput.value = state.q;
  for (const select of KEYWORDS) {
    const value = state.filters[select.name] || "";
    if (value && ![...select.options].some((o) => o.value === value)) select.add(new Option(value, value));
    select.value = value;
  }
  for (const input of RANGES) input.value = state.filters[input.name] || "";
  for (const radio of MODE_RADIOS) radio.checked = radio.value === state.mode;
}

// The filters in words, for the status line: " with city London", " with downloads rank 1 to 100".
function filterWords(filters) {
  const parts = [];
  for (const select of KEYWORDS) if (filters[select.name]) parts.push(`${label(select.name).toLowerCase()} ${filters[select.name]}`);
  for (const field of new Set(RANGES.map((input) => input.dataset.range))) {
    const low = filters[`${field}_min`], high = filters[`${field}_max`];
    const words = label(field).toLowerCase();
    if (low && high) parts.push(`${words} ${low} to ${high}`);
    else if (low) parts.push(`${words} from ${low}`);
    else if (high) parts.push(`${words} up to ${high}`);
  }
  return parts.length ? ` with ${parts.join(", ")}` : "";
}

// An error body, in words a person can act on (the API's own wording is for developers).
function describeError(status, body) {
  const issue = status === 422 && body && Array.isArray(body.detail) ? body.detail[0] || {} : null;
  if (issue) {
    const parameter = String((issue.loc || [])[1]); // ["query", name] (a repeatable filter adds the value's index)
    if (parameter === "q") {
      return /too_long$/.test(issue.type || "") ? `That search is too long: use at most ${MAX_CHARS} characters.` : "Type something to search for.";
    }
    if (parameter === "id") return `That ${NOUN} link is broken. Search for the ${NOUN} by its ${label(SCHEMA.title).toLowerCase()} instead.`;
    const range = parameter.replace(/_(min|max)$/, "");
    if (SCHEMA.ranges && SCHEMA.ranges[range]) return `${label(range)} takes numbers only, the lower bound first.`;
    if ((SCHEMA.keywords || []).includes(parameter)) return `That ${label(parameter).toLowerCase()} is too long. Pick one from the list.`;
    return "That search link is broken. Start a new search.";
  }
  const code = body && body.error;
  if (code === "not_found") return `That ${NOUN} is not in the index any more. Search for it by its ${label(SCHEMA.title).toLowerCase()}.`;
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
let said = ""; // what the status line said of the results shown, before any error
let pattern = null;

function showSimilar(id, name) { // the last query and mode are kept: choosing a mode searches it again
  navigate({ similar: id, name, filters: filtersFromForm(), q: current.q, mode: current.mode }, true);
}

function request(state, offset) {
  const params = state.similar ? new URLSearchParams({ id: state.similar }) : new URLSearchParams({ q: state.q, mode: state.mode });
  params.set("limit", String(PAGE + 1)); // one more than shown: is there a next page?
  if (offset) params.set("offset", String(offset));
  for (const [name, value] of Object.entries(state.filters)) params.set(name, value);
  return `api/${state.similar ? "similar" : "search"}?${params}`;
}

function summary(state, count, body, took) { // took: the round trip the page measured (the API shows no timings unless TIMING_DETAILS=1)
  const where = filterWords(state.filters);
  if (state.similar) return `${capitalized(NOUNS)} like ${state.name || `this ${NOUN}`}${where}: ${plural(count)}`;
  return `${quoted(state.q)}${where}: ${plural(count)} (${body.mode}, ${Math.round(took)} ms)`;
}

function busy(on) { // the Search button stays usable: a new search replaces a slow one
  results.setAttribute("aria-busy", on ? "true" : "false");
  moreButton.disabled = on;
}

function add(body, focusFirst) {
  const fresh = body.result.slice(0, PAGE).map((record, i) => [record, body.hits[i]]).filter(([, hit]) => !shown.has(hit.id));
  const cards = fresh.map(([record, hit]) => { shown.add(hit.id); return card(record, hit, pattern, showSimilar, DISPLAY, NOUNS); });
  results.append(...cards);
  // another page exists, and the API serves it: its offset is at most MAX_OFFSET
  moreButton.hidden = body.result.length <= PAGE || shown.size > MAX_OFFSET;
  if (focusFirst && cards.length) cards[0].focus();
}

async function run(state, focus = false) {
  const mine = ++generation;
  current = state;
  shown = new Set();
  said = "";
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
    const began = performance.now();
    const body = await getJson(request(state, 0));
    const took = performance.now() - began;
    if (mine !== generation) return;
    if (!body.result.length) {
      say(`No results${state.similar ? "" : ` for ${quoted(state.q)}`}${filterWords(state.filters)}. Try other words, another mode or fewer filters.`);
      return;
    }
    add(body, false);
    notice.hidden = !body.weak_match;
    said = summary(state, shown.size, body, took);
    say(said);
    // focus goes to the results for keyboards and screen readers, without scrolling: the box, the
    // status line and the notice stay in view
    if (focus) results.focus({ preventScroll: true });
  } catch (error) {
    if (mine === generation) say(error.message, "error");
  } finally {
    if (mine === generation) busy(false);
  }
}

async function more() {
  const mine = generation;
  const state = current;
  moreButton.textContent = "Loading…";
  busy(true);
  try {
    const began = performance.now();
    const body = await getJson(request(state, shown.size));
    const took = performance.now() - began;
    if (mine !== generation) return;
    add(body, true);
    said = summary(state, shown.size, body, took);
    say(said);
  } catch (error) {
    if (mine === generation) say(said ? `${error.message} (${said})` : error.message, "error"); // never an earlier error inside this one
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
  for (const [name, value] of Object.entries(state.filters)) params.set(name, value);
  const query = params.toString();
  return query ? `./?${query}` : "./";
}

function navigate(partial, focus = false) {
  const state = { q: "", mode: currentMode(), similar: "", name: "", filters: {}, ...partial };
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
  navigate({ q: qInput.value, filters: filtersFromForm(), mode: currentMode() }, true);
});
for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => navigate({ q: example.textContent, filters: filtersFromForm(), mode: currentMode() }, true));
}
function refilter() { // a filter changed: the search shown, with the new filters
  if (current.similar) navigate({ ...current, filters: filtersFromForm() });
  else if (current.q) navigate({ q: current.q, filters: filtersFromForm(), mode: currentMode() });
}
for (const select of KEYWORDS) select.addEventListener("change", refilter);
for (const input of RANGES) input.addEventListener("change", refilter);
for (const radio of MODE_RADIOS) {
  // a mode is a way to search: choosing one searches the box's words (the last query, while viewing similar records)
  radio.addEventListener("change", () => { if (qInput.value.trim()) navigate({ q: qInput.value, filters: filtersFromForm(), mode: currentMode() }); });
}
moreButton.addEventListener("click", more);
window.addEventListener("popstate", () => { const state = stateFromUrl(); showState(state); run(state); });

async function loadFacets() { // each keyword's list: its values in the collection, biggest first
  let failed = false;
  for (const select of KEYWORDS) {
    try {
      const body = await getJson(`api/facets/${encodeURIComponent(select.name)}?limit=200`);
      const chosen = select.value;
      for (const { value, count } of body.values) {
        if (![...select.options].some((o) => o.value === value)) select.add(new Option(`${value} (${count})`, value));
      }
      select.value = chosen;
    } catch (error) {
      failed = true;
    }
  }
  // the search still works without the lists; say so once
  if (failed && !statusLine.textContent) say("The filter lists are not available; search works without them.", "error");
}

showState(current);
loadFacets(); // keeps each list's choice; the box and mode are the person's (they may type before the lists arrive)
run(current);
