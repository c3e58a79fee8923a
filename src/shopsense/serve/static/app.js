// shopsense shop front: search with facets, explained result cards, recommendation rails.
// Clicking a card POSTs a click event for the chosen shopper, then every rail is reloaded.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { q: "", filters: { brand: [], category: [] } };

function headers(json) {
  const h = {};
  const key = $("key").value.trim();
  if (key) h["X-API-Key"] = key;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: headers(!!opts.body) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
  return body;
}

function card(item, onClick) {
  const el = document.createElement("div");
  el.className = "card";
  el.dataset.itemId = item.item_id;
  el.dataset.testid = "card";
  const price = item.price == null ? "" : ` · $${Number(item.price).toFixed(2)}`;
  el.innerHTML = `<div class="title"></div><div class="meta"></div><div class="why" data-testid="why"></div>
    <details><summary>why, in detail</summary><pre></pre></details>`;
  el.querySelector(".title").textContent = item.title;
  el.querySelector(".meta").textContent = `${item.brand || "—"}${price}`;
  el.querySelector(".why").textContent = item.explanation;
  el.querySelector("pre").textContent = JSON.stringify(item.breakdown, null, 1);
  el.addEventListener("click", (ev) => { if (ev.target.tagName !== "SUMMARY") onClick(item); });
  return el;
}

function fill(id, items) {
  const box = $(id);
  box.replaceChildren(...items.map((it) => card(it, clicked)));
  if (!items.length) box.textContent = "—";
}

function user() { return $("user").value.trim() || "guest-1"; }

async function clicked(item) {
  try {
    await api("/events", { method: "POST", body: JSON.stringify({ events: [
      { user_id: user(), item_id: item.item_id, type: "click", query: state.q || null }] }) });
    $("status").textContent = `Logged a click on "${item.title.slice(0, 50)}" for ${user()}.`;
    const [sim, bt] = await Promise.all([
      api(`/items/${encodeURIComponent(item.item_id)}/similar?n=8`),
      api(`/items/${encodeURIComponent(item.item_id)}/bought-together?n=8`)]);
    $("similar-title").hidden = false; $("bt-title").hidden = false;
    fill("rail-similar", sim.results); fill("rail-bt", bt.results);
    await rails();
  } catch (e) { $("status").textContent = "Error: " + e.message; }
}

function facetBox(title, key, counts) {
  const wrap = document.createElement("div");
  const h = document.createElement("h3"); h.textContent = title; wrap.appendChild(h);
  Object.entries(counts || {}).slice(0, 10).forEach(([name, n]) => {
    const lab = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.checked = state.filters[key].includes(name); cb.dataset.testid = `facet-${key}`;
    cb.addEventListener("change", () => {
      const f = state.filters[key];
      if (cb.checked) f.push(name); else f.splice(f.indexOf(name), 1);
      search();
    });
    lab.append(cb, ` ${name.length > 40 ? "…" + name.slice(-38) : name} (${n})`);
    wrap.appendChild(lab);
  });
  return wrap;
}

async function search() {
  if (!state.q) return;
  const p = new URLSearchParams({ q: state.q, n: "12", user: user() });
  state.filters.brand.forEach((b) => p.append("brand", b));
  state.filters.category.forEach((c) => p.append("category", c));
  try {
    const r = await api("/search?" + p.toString());
    $("status").textContent = `${r.total} matches for "${state.q}"`;
    fill("results", r.results);
    const f = r.facets || {};
    $("facets").replaceChildren(facetBox("Brand", "brand", f.brand), facetBox("Category", "category", f.category));
  } catch (e) { $("status").textContent = "Error: " + e.message; }
}

async function rails() {
  try {
    const [rec, tr] = await Promise.all([api(`/recommend/${encodeURIComponent(user())}?n=8`), api("/trending?n=8")]);
    fill("rail-recommend", rec.results); fill("rail-trending", tr.results);
    const prof = await fetch(`/users/${encodeURIComponent(user())}/profile`, { headers: headers(false) });
    if (prof.ok) {
      const p = await prof.json();
      const top = Object.keys(p.category_affinity || {})[0];
      $("profile").textContent = `${p.n_events} events${top ? " · mostly " + top.split(" ").slice(-3).join(" ") : ""}`;
    } else { $("profile").textContent = "new shopper"; }
  } catch (e) { $("status").textContent = "Error: " + e.message; }
}

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.q = $("q").value.trim(); state.filters = { brand: [], category: [] };
  search();
});
$("user").addEventListener("change", () => { rails(); search(); });
$("key").value = localStorage.getItem("shopsense-key") || "";
$("key").addEventListener("change", () => { localStorage.setItem("shopsense-key", $("key").value); rails(); });
rails();
