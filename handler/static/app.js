// The search page: no framework, no build step, no CDN. Every URL is relative to the page's
// <base>, so the page works at / and behind a stage prefix such as /Prod/. The search state
// lives in the URL (?q=&city=&mode=, or ?similar=<id>&name=), so a search can be shared and
// reloaded, and the back button steps through searches.
"use strict";

const form = document.getElementById("search");
const qInput = document.getElementById("q");
const citySelect = document.getElementById("city");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
// The modes and the default come from the server, rendered into the form (handler/pages.py).
const MODE_RADIOS = [...form.querySelectorAll("input[name=mode]")];
const MODES = MODE_RADIOS.map((radio) => radio.value);
const DEFAULT_MODE = (MODE_RADIOS.find((radio) => radio.defaultChecked) || MODE_RADIOS[0]).value;

function say(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
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
  for (const radio of form.querySelectorAll("input[name=mode]")) radio.checked = radio.value === state.mode;
}

function ensureCityOption(city) {
  if (city && ![...citySelect.options].some((o) => o.value === city)) {
    citySelect.add(new Option(city, city));
  }
}

// What an error body says, in words: 422 names the parameter, 503 says what is unavailable.
function describeError(status, body) {
  if (status === 422 && body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(-1)[0] || "input"}: ${d.msg}`).join("; ");
  }
  if (body && body.detail && typeof body.detail === "string") return body.detail;
  if (status === 503) return "The search service is not available right now; try again in a moment.";
  return `The service answered ${status}.`;
}

async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" } });
  } catch (error) {
    throw new Error("The search service could not be reached; check your connection and try again.");
  }
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (!response.ok) throw new Error(describeError(response.status, body));
  return body;
}

function safeUrl(value) {
  try {
    const url = new URL(value, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (error) {
    return null;
  }
}

function card(record, hit) {
  const item = document.createElement("li");
  item.className = "card";
  const name = record.name || "(no name)";
  const initial = document.createElement("div");
  initial.className = "initial";
  initial.setAttribute("aria-hidden", "true");
  initial.textContent = [...name.trim()][0] ? [...name.trim()][0].toUpperCase() : "?";
  const logoUrl = safeUrl(record.images || "");
  if (logoUrl) {
    const logo = document.createElement("img");
    logo.className = "logo";
    logo.alt = `${name} logo`;
    logo.loading = "lazy";
    logo.src = logoUrl;
    logo.addEventListener("error", () => logo.replaceWith(initial)); // broken images fall back to the initial
    item.append(logo);
  } else {
    item.append(initial);
  }
  const body = document.createElement("div");
  const title = document.createElement("h2");
  title.textContent = name;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = [record.city, hit && hit.score != null ? `score ${hit.score.toFixed(3)}` : ""].filter(Boolean).join(" · ");
  const text = document.createElement("p");
  text.textContent = record.description || record.alt || "";
  const actions = document.createElement("div");
  actions.className = "actions";
  const link = safeUrl(record.link || "");
  if (link) {
    const a = document.createElement("a");
    a.href = link;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.textContent = new URL(link).host;
    actions.append(a);
  }
  if (hit && hit.id) {
    const more = document.createElement("button");
    more.type = "button";
    more.className = "similar";
    more.textContent = "Similar";
    more.setAttribute("aria-label", `Startups similar to ${name}`);
    more.addEventListener("click", () => navigate({ similar: hit.id, name, city: citySelect.value }));
    actions.append(more);
  }
  body.append(title, meta, text, actions);
  item.append(body);
  return item;
}

let generation = 0; // answers of superseded searches are dropped

async function run(state) {
  const mine = ++generation;
  results.replaceChildren();
  let url;
  let what;
  if (state.similar) {
    const params = new URLSearchParams({ id: state.similar, limit: "10" });
    if (state.city) params.set("city", state.city);
    url = `api/similar?${params}`;
    what = `Startups like ${state.name || "this one"}`;
  } else if (state.q.trim()) {
    const params = new URLSearchParams({ q: state.q, mode: state.mode, limit: "10" });
    if (state.city) params.set("city", state.city);
    url = `api/search?${params}`;
    what = `“${state.q}”`;
  } else {
    say("Type what you are looking for and press Enter.");
    return;
  }
  say("Searching…");
  try {
    const body = await getJson(url);
    if (mine !== generation) return;
    const took = body.took_ms ? body.took_ms.embed + body.took_ms.search : 0;
    if (!body.result.length) {
      say(`No results for ${what}${state.city ? ` in ${state.city}` : ""}. Try other words, another mode or any city.`);
      return;
    }
    say(`${body.result.length} results for ${what}${state.city ? ` in ${state.city}` : ""} (${body.mode}, ${took.toFixed(1)} ms)`);
    results.replaceChildren(...body.result.map((record, i) => card(record, body.hits[i])));
  } catch (error) {
    if (mine === generation) say(error.message, true);
  }
}

function urlFor(state) {
  const params = new URLSearchParams();
  if (state.similar) {
    params.set("similar", state.similar);
    if (state.name) params.set("name", state.name);
  } else if (state.q) {
    params.set("q", state.q);
    if (state.mode !== DEFAULT_MODE) params.set("mode", state.mode);
  }
  if (state.city) params.set("city", state.city);
  const query = params.toString();
  return query ? `./?${query}` : "./";
}

function navigate(partial) {
  const state = { q: "", city: "", mode: currentMode(), similar: "", name: "", ...partial };
  history.pushState(null, "", urlFor(state));
  showState(state);
  run(state);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  navigate({ q: qInput.value, city: citySelect.value, mode: currentMode() });
});
citySelect.addEventListener("change", () => {
  const state = stateFromUrl();
  if (state.q || state.similar) navigate({ ...state, city: citySelect.value, mode: currentMode(), q: state.similar ? "" : qInput.value });
});
for (const radio of form.querySelectorAll("input[name=mode]")) {
  radio.addEventListener("change", () => { if (qInput.value.trim()) navigate({ q: qInput.value, city: citySelect.value, mode: currentMode() }); });
}
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
    if (!statusLine.textContent) say(`City list unavailable: ${error.message}`, true);
  }
}

const initial = stateFromUrl();
showState(initial);
loadCities().then(() => showState(stateFromUrl()));
run(initial);
