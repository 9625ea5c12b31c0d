// The single-page app: a hash router over the pages, the header navigation for the signed-in
// role, and focus management on navigation (the new page's heading gets focus).
import { ApiError, clearSession, loadConfig, role, session } from "./api.js";
import { errorState, h, mount } from "./dom.js";
import * as admin from "./pages/admin.js";
import * as auth from "./pages/auth.js";
import * as catalog from "./pages/catalog.js";
import * as detail from "./pages/detail.js";
import * as developer from "./pages/developer.js";
import * as keys from "./pages/keys.js";
import * as myPlugins from "./pages/my-plugins.js";
import * as webhooks from "./pages/webhooks.js";

// pattern -> page; ``need`` is the role a page requires (user covers every signed-in account).
const ROUTES = [
  { pattern: /^\/$/, page: catalog, title: "Catalog" },
  { pattern: /^\/plugins\/([a-z0-9-]+)$/, page: detail, title: "Plugin" },
  { pattern: /^\/my-plugins$/, page: myPlugins, title: "My plugins", need: "user" },
  { pattern: /^\/keys$/, page: keys, title: "API keys", need: "user" },
  { pattern: /^\/webhooks$/, page: webhooks, title: "Webhook tester", need: "user" },
  { pattern: /^\/developer$/, page: developer, title: "Developer dashboard", need: "developer" },
  { pattern: /^\/admin$/, page: admin, title: "Admin", need: "admin" },
  { pattern: /^\/login$/, page: auth, title: "Log in", mode: "login" },
  { pattern: /^\/signup$/, page: auth, title: "Sign up", mode: "signup" },
];

const ROLE_RANK = { user: 1, developer: 2, admin: 3 };

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, queryString = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(queryString) };
}

export function navigate(path, query) {
  const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString() : "";
  const target = `#${path}${qs ? `?${qs}` : ""}`;
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
}

/** Replace the query of the current route without adding a history entry or re-rendering. */
export function replaceQuery(query) {
  const { path } = parseHash();
  const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString();
  history.replaceState(null, "", `#${path}${qs ? `?${qs}` : ""}`);
}

function navLinks() {
  const current = session();
  const r = role();
  const links = [["#/", "Catalog"]];
  if (current) links.push(["#/my-plugins", "My plugins"], ["#/keys", "API keys"], ["#/webhooks", "Webhooks"]);
  if (r === "developer" || r === "admin") links.push(["#/developer", "Developer"]);
  if (r === "admin") links.push(["#/admin", "Admin"]);
  return links;
}

function renderNav() {
  const nav = document.getElementById("site-nav");
  const { path } = parseHash();
  const current = session();
  const items = navLinks().map(([href, label]) => {
    const active = href.slice(1) === path;
    return h("li", {}, h("a", { href, "aria-current": active ? "page" : null }, label));
  });
  const account = current
    ? h("li", { class: "account" },
      h("span", { class: "who", title: current.user.email }, `${current.user.email} (${current.user.role})`),
      h("button", { type: "button", class: "link-button", onClick: () => { clearSession(); navigate("/login"); } }, "Log out"))
    : h("li", { class: "account" }, h("a", { href: "#/login" }, "Log in"), h("a", { href: "#/signup", class: "button small" }, "Sign up"));
  mount(nav, h("ul", {}, items, account));
}

function setupSkipLink() {
  // The skip link must not change the hash: the hash is the router's.
  document.querySelector(".skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    const main = document.getElementById("main");
    main.focus();
    main.scrollIntoView();
  });
}

function setupMenu() {
  const toggle = document.querySelector(".menu-toggle");
  const nav = document.getElementById("site-nav");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
  nav.addEventListener("click", (event) => {
    if (event.target.closest("a")) {
      toggle.setAttribute("aria-expanded", "false");
      nav.classList.remove("open");
    }
  });
}

let cleanup = null;
let firstRender = true;

async function render() {
  const main = document.getElementById("main");
  if (location.hash && !location.hash.startsWith("#/")) return;  // an in-page anchor, not a route
  const { path, query } = parseHash();
  renderNav();
  if (typeof cleanup === "function") cleanup();
  cleanup = null;
  const route = ROUTES.find((r) => r.pattern.test(path));
  if (!route) {
    document.title = "Not found · MockFactory Marketplace";
    mount(main, h("section", { class: "page" }, h("h1", {}, "Page not found"),
      h("p", {}, "There is no page at this address. "), h("a", { href: "#/" }, "Back to the catalog")));
    focusHeading(main);
    return;
  }
  const current = session();
  if (route.need && !current) {
    navigate("/login", { next: `${path}${query.toString() ? `?${query}` : ""}` });
    return;
  }
  if (route.need && ROLE_RANK[current.user.role] < ROLE_RANK[route.need]) {
    document.title = `${route.title} · MockFactory Marketplace`;
    mount(main, h("section", { class: "page" }, h("h1", {}, route.title),
      h("p", { class: "state empty" }, `This page is for ${route.need} accounts; you are signed in as ${current.user.role}.`),
      // A user becomes a developer with the same account, from here.
      route.need === "developer" && current.user.role === "user" ? auth.becomeDeveloperPanel(navigate) : null));
    focusHeading(main);
    return;
  }
  const params = path.match(route.pattern).slice(1);
  document.title = `${route.title} · MockFactory Marketplace`;
  const container = h("section", { class: "page" });
  mount(main, container);
  try {
    cleanup = await route.page.render(container, { params, query, mode: route.mode, navigate, replaceQuery, setTitle });
  } catch (error) {
    if (!(error instanceof ApiError)) console.error(error);  // a bug: shown, and reported (tests fail on it)
    mount(container, errorState(error instanceof ApiError ? error : new Error("This page failed to load.")));
  }
  if (!firstRender) focusHeading(main);
  firstRender = false;
}

function setTitle(title) {
  document.title = `${title} · MockFactory Marketplace`;
}

function focusHeading(main) {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

async function start() {
  setupSkipLink();
  setupMenu();
  try {
    await loadConfig();
  } catch (error) {
    mount(document.getElementById("main"), errorState(new Error("The site's configuration (config.json) could not be loaded.")));
    return;
  }
  window.addEventListener("hashchange", render);
  window.addEventListener("session-changed", renderNav);
  await render();
}

start();
