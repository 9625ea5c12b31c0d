// The catalog: search with suggestions (an ARIA combobox), category filter, sort, cards,
// pagination. The search state lives in the URL (#/?q=&category=&sort=&page=).
import { api } from "../api.js";
import { announce, emptyState, h, load, mount, uid } from "../dom.js";
import { compact, freeTierLine, number, priceLine, stars } from "../format.js";
import { installPlugin, installedNames } from "../install.js";

const SORTS = [["popular", "Most popular"], ["trending", "Trending (7 days)"], ["rating", "Highest rated"], ["newest", "Newest"], ["price", "Price: low to high"]];

export function pluginIcon(plugin, size = "md") {
  const src = plugin.icon && /^(https:|data:image\/)/.test(plugin.icon) ? plugin.icon : null;
  if (src) return h("img", { class: `plugin-icon ${size}`, src, alt: "", width: 48, height: 48 });
  const letters = (plugin.display_name || plugin.name || "?").replace(/[^A-Za-z0-9]/g, "").slice(0, 2) || "?";
  let hash = 0;
  for (const c of plugin.name || "") hash = (hash * 31 + c.charCodeAt(0)) % 360;
  return h("span", { class: `plugin-icon ${size} letters hue-${hash % 8}`, "aria-hidden": "true" }, letters);
}

/** "Fidelity: 9/197 operations · 100 % of 43 answers valid · Twilio REST API 2010-04-01", or null. */
export function fidelityLine(fidelity) {
  if (!fidelity) return null;
  const parts = [`${fidelity.operations_implemented}/${fidelity.operations_total} operations`];
  if (fidelity.conformance_percent !== null && fidelity.conformance_percent !== undefined) {
    parts.push(`${fidelity.conformance_percent} % of ${fidelity.responses_total} answers valid`);
  }
  parts.push(`vs ${fidelity.spec_title} ${fidelity.spec_version}`);
  return [h("span", { class: "fidelity-label" }, "Fidelity: "), parts.join(" · "),
    fidelity.spec_note ? h("span", { class: "muted", title: fidelity.spec_note }, " (older spec)") : null];
}

export function verifiedBadge(plugin) {
  if (plugin.verification === "premier") return h("span", { class: "badge verified" }, "✓ Premier");
  if (plugin.verified || plugin.verification === "verified") return h("span", { class: "badge verified" }, "✓ Verified");
  return null;
}

function card(plugin, installed, ctx) {
  const titleId = uid("card");
  const install = h("button", { type: "button", class: "primary", "aria-describedby": titleId }, "Install");
  if (installed.has(plugin.name)) {
    install.textContent = "Installed";
    install.disabled = true;
  }
  install.addEventListener("click", async () => {
    install.disabled = true;
    try {
      const done = await installPlugin(plugin.name, { navigate: ctx.navigate });
      if (done) {
        installed.add(plugin.name);
        install.textContent = "Installed";
        return;
      }
    } catch (error) {
      announce(error.message, "error");
    }
    install.disabled = installed.has(plugin.name);
  });
  return h("li", { class: "card plugin-card" },
    h("div", { class: "card-head" },
      pluginIcon(plugin),
      h("div", {},
        h("h2", { class: "card-title", id: titleId }, h("a", { href: `#/plugins/${plugin.name}` }, plugin.display_name)),
        h("p", { class: "muted small" }, `by ${plugin.author && plugin.author.name ? plugin.author.name : "unknown"} · ${plugin.category}`)),
      verifiedBadge(plugin)),
    h("p", { class: "description" }, plugin.description),
    h("p", { class: "stats" },
      h("span", { class: "rating", title: `${plugin.rating.average} out of 5` },
        h("span", { "aria-hidden": "true" }, stars(plugin.rating.average)),
        h("span", { class: "sr-only" }, `Rated ${plugin.rating.average} out of 5`),
        ` ${plugin.rating.average.toFixed(1)} (${number(plugin.rating.count)})`),
      h("span", { title: `${number(plugin.install_count)} installs` }, `${compact(plugin.install_count)} installs`)),
    plugin.fidelity ? h("p", { class: "fidelity small" }, fidelityLine(plugin.fidelity)) : null,
    h("p", { class: "price" }, h("strong", {}, priceLine(plugin.pricing)), " ", h("span", { class: "muted small" }, freeTierLine(plugin.pricing))),
    h("div", { class: "card-actions" }, install, h("a", { href: `#/plugins/${plugin.name}`, class: "button secondary", "aria-describedby": titleId }, "Details")));
}

function searchBox(initial, onSearch) {
  const listId = uid("suggest");
  const input = h("input", {
    type: "search", id: "catalog-search", name: "q", value: initial, autocomplete: "off", placeholder: "Search plugins, e.g. stripe",
    role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": listId,
  });
  const list = h("ul", { id: listId, role: "listbox", class: "suggestions", hidden: true, "aria-label": "Suggestions" });
  let items = [];
  let active = -1;
  let timer = null;
  let seq = 0;

  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (index) => {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) input.setAttribute("aria-activedescendant", list.children[index].id);
    else input.removeAttribute("aria-activedescendant");
  };
  const choose = (item) => {
    close();
    onSearch({ open: item.name });
  };
  const show = (suggestions) => {
    items = suggestions;
    mount(list, suggestions.map((item, i) => {
      const li = h("li", { role: "option", id: `${listId}-${i}`, "aria-selected": "false" },
        h("span", {}, item.display_name), " ", h("span", { class: "muted small" }, item.name));
      li.addEventListener("mousedown", (e) => e.preventDefault());  // keep focus in the input
      li.addEventListener("click", () => choose(item));
      return li;
    }));
    const open = suggestions.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    active = -1;
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) {
      close();
      return;
    }
    timer = setTimeout(async () => {
      const mine = ++seq;
      try {
        const data = await api.get("/marketplace/suggest", { q }, { auth: false });
        if (mine === seq && document.activeElement === input) show(data.suggestions || []);
      } catch {
        close();  // suggestions are a convenience; the search itself still works
      }
    }, 150);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && items.length) {
      event.preventDefault();
      if (list.hidden) show(items);
      highlight((active + 1) % items.length);
    } else if (event.key === "ArrowUp" && items.length && !list.hidden) {
      event.preventDefault();
      highlight(active <= 0 ? items.length - 1 : active - 1);
    } else if (event.key === "Escape" && !list.hidden) {
      event.preventDefault();
      close();
    } else if (event.key === "Enter" && active >= 0 && !list.hidden) {
      event.preventDefault();
      choose(items[active]);
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
  return { input, list, close };
}

export async function render(container, ctx) {
  const { query } = ctx;
  const state = {
    q: query.get("q") || "",
    category: query.get("category") || "",
    sort: query.get("sort") || "popular",
    page: Number(query.get("page") || 1) || 1,
  };
  const results = h("div", { class: "results", id: "catalog-results", "aria-live": "polite" });
  const count = h("p", { class: "muted result-count", id: "result-count" });
  const categorySelect = h("select", { id: "catalog-category", name: "category" }, h("option", { value: "" }, "All categories"));
  const sortSelect = h("select", { id: "catalog-sort", name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === state.sort }, label)));

  const run = async () => {
    ctx.replaceQuery({ q: state.q, category: state.category, sort: state.sort === "popular" ? "" : state.sort, page: state.page > 1 ? state.page : "" });
    let installed = new Set();
    await load(results, async () => {
      const [data, names] = await Promise.all([
        api.get("/marketplace/plugins", { q: state.q, category: state.category, sort: state.sort, page: state.page }, { auth: false }),
        installedNames().catch(() => new Set()),
      ]);
      installed = names;
      return data;
    }, (data) => {
      const { pagination } = data;
      count.textContent = `${number(pagination.total)} plugin${pagination.total === 1 ? "" : "s"}${state.q ? ` for “${state.q}”` : ""}`;
      const pager = pagination.pages > 1 ? h("nav", { class: "pager", "aria-label": "Pages" },
        h("button", { type: "button", class: "secondary", disabled: pagination.page <= 1, onClick: () => { state.page -= 1; run(); } }, "Previous"),
        h("span", {}, `Page ${pagination.page} of ${pagination.pages}`),
        h("button", { type: "button", class: "secondary", disabled: !pagination.has_next, onClick: () => { state.page += 1; run(); } }, "Next")) : null;
      return [h("ul", { class: "plugin-grid" }, data.plugins.map((p) => card(p, installed, ctx))), pager];
    }, {
      label: "Searching the catalog",
      isEmpty: (data) => data.plugins.length === 0,
      empty: () => {
        count.textContent = "0 plugins";
        return emptyState(state.q || state.category ? "No plugin matches this search." : "No plugins are published yet.",
          state.q || state.category ? h("button", { type: "button", class: "secondary", onClick: () => { Object.assign(state, { q: "", category: "", page: 1 }); search.input.value = ""; categorySelect.value = ""; run(); } }, "Clear the search") : null);
      },
    });
  };

  const search = searchBox(state.q, ({ open }) => ctx.navigate(`/plugins/${open}`));
  const form = h("form", { class: "filters", role: "search", "aria-label": "Search the catalog" },
    h("div", { class: "field search-field" }, h("label", { for: "catalog-search" }, "Search"), h("div", { class: "combobox" }, search.input, search.list)),
    h("div", { class: "field" }, h("label", { for: "catalog-category" }, "Category"), categorySelect),
    h("div", { class: "field" }, h("label", { for: "catalog-sort" }, "Sort by"), sortSelect),
    h("div", { class: "field submit-field" }, h("button", { type: "submit", class: "primary" }, "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search.close();
    state.q = search.input.value.trim();
    state.page = 1;
    run();
  });
  categorySelect.addEventListener("change", () => { state.category = categorySelect.value; state.page = 1; run(); });
  sortSelect.addEventListener("change", () => { state.sort = sortSelect.value; state.page = 1; run(); });

  mount(container,
    h("div", { class: "hero" },
      h("h1", {}, "Plugin Marketplace"),
      h("p", { class: "lead" }, "API mocks of real services — Stripe, Twilio, SendGrid, Datadog, GitHub and more. Install one, call it with your marketplace key.")),
    form, count, results);

  try {
    const data = await api.get("/marketplace/categories", undefined, { auth: false });
    for (const c of data.categories) {
      categorySelect.append(h("option", { value: c.name, selected: c.name === state.category }, `${c.name[0].toUpperCase()}${c.name.slice(1)} (${c.count})`));
    }
  } catch (error) {
    announce(`Categories could not be loaded: ${error.message}`, "error");
  }
  await run();
  return () => search.close();
}

