// The search page's results (app.js runs the page): a card per record, laid out as the schema's
// [display] says (title, image, subtitle, body, link), the query's words marked in it. Text from the service is only ever set as text (DOM nodes), and only
// http(s) links and images are used.
"use strict";

function safeUrl(value) {
  if (!value || !value.trim()) return null;
  try {
    const url = new URL(value, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (error) {
    return null;
  }
}

// -- matched words -------------------------------------------------------------------------------
// Words too common to mark (they mean nothing alone; the text search does not count them either).
const COMMON = new Set("a an and are as at be by for from in into is it of on or so than that the their this to was we with you your".split(" "));

// The query's words as a pattern that marks the same words in the text, with or without a common
// ending ("deliveries" marks "delivery", "restaurant" marks "restaurants"), roughly as the text
// search's stemming matches them; not other words that merely start alike ("food" leaves "Fooda").
function wordPattern(query) {
  const words = new Set();
  for (const word of query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []) {
    if (word.length < 2 || COMMON.has(word)) continue;
    words.add(word.length >= 5 ? word.replace(/(?:ies|es|s|ing|ed)$/u, "") : word);
  }
  if (!words.size) return null;
  const escaped = [...words].sort((a, b) => b.length - a.length).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`(?<![\\p{L}\\p{N}])(?:${escaped.join("|")})(?:e|s|es|ies|y|ing|ed|er|ers)?(?![\\p{L}\\p{N}])`, "giu");
}

// `text` as nodes, the matched words in <mark> elements (never HTML: text nodes only).
function marked(text, pattern) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  if (pattern) {
    for (const match of text.matchAll(pattern)) {
      fragment.append(text.slice(last, match.index));
      const mark = document.createElement("mark");
      mark.textContent = match[0];
      fragment.append(mark);
      last = match.index + match[0].length;
    }
  }
  fragment.append(text.slice(last));
  return fragment;
}

// A result's card; `onSimilar` runs when its "Similar" button is pressed. `display` names the
// record's fields for each place (`title`, `image`, `subtitle`, `body`, `link`; null: none).
function card(record, hit, pattern, onSimilar, display, nouns) {
  const field = (place) => { const value = display[place] ? record[display[place]] : null; return value === null || value === undefined ? "" : String(value); };
  const item = document.createElement("li");
  item.className = "card";
  item.tabIndex = -1;  // focus lands here after "More results"
  const name = field("title") || "(untitled)";
  const initial = document.createElement("div");
  initial.className = "initial";
  initial.setAttribute("aria-hidden", "true");
  initial.textContent = [...name.trim()][0] ? [...name.trim()][0].toUpperCase() : "?";
  const logoUrl = safeUrl(field("image"));
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
  title.append(marked(name, pattern));
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = field("subtitle");
  const text = document.createElement("p");
  // an empty body: the record's other text fields, the first that has something to say
  const bodyText = field("body") || (display.texts || []).map((name) => String(record[name] || "")).find((value) => value.trim()) || "";
  text.append(marked(bodyText, pattern));
  const actions = document.createElement("div");
  actions.className = "actions";
  const link = safeUrl(field("link"));
  if (link) {
    const a = document.createElement("a");
    a.href = link;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.textContent = new URL(link).host;
    actions.append(a);
  }
  if (hit && hit.id) {
    const similar = document.createElement("button");
    similar.type = "button";
    similar.className = "similar";
    similar.textContent = "Similar";
    similar.setAttribute("aria-label", `${nouns.charAt(0).toUpperCase()}${nouns.slice(1)} similar to ${name}`);
    similar.addEventListener("click", () => onSimilar(hit.id, name));
    actions.append(similar);
  }
  body.append(title, meta, text, actions);
  item.append(body);
  return item;
}
