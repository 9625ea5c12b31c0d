// A plugin's page: description, its README, how to call it (vendor SDK snippets with the base
// URL and a key), its fidelity to the vendor's API, endpoints, pricing plans, versions and
// changelog, permissions, reviews; install, purchase (Stripe Checkout) and trial.
import { api, apiUrl, enc, session } from "../api.js";
import { actionButton, announce, emptyState, field, formError, h, load, mount, uid } from "../dom.js";
import { date, freeTierLine, micros, number, planPrice, priceLine, stars } from "../format.js";
import { installPlugin, installedNames, permissionList } from "../install.js";
import { renderMarkdown } from "../markdown.js";
import { fidelityLine, pluginIcon, verifiedBadge } from "./catalog.js";

function section(title, ...content) {
  const id = uid("sec");
  return h("section", { class: "card detail-section", "aria-labelledby": id }, h("h2", { id, tabindex: "-1" }, title), ...content);
}

const ENDPOINTS_SHOWN = 8;

function endpointRows(endpoints) {
  return endpoints.map((e) => h("tr", {},
    h("td", {}, h("span", { class: `method m-${e.method.toLowerCase()}` }, e.method)),
    h("td", {}, h("code", {}, e.path)),
    h("td", {}, e.description || "")));
}

function endpointTable(caption, endpoints) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Method"), h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, "What it does"))),
    h("tbody", {}, endpointRows(endpoints))));
}

function endpointsTable(plugin) {
  const endpoints = (plugin.api && plugin.api.endpoints) || [];
  if (!endpoints.length) return emptyState("This plugin declares no endpoints.");
  const many = endpoints.length > ENDPOINTS_SHOWN + 2;  // never hide just one or two
  return [
    h("p", {}, "Base URL: ", h("code", { class: "break" }, `${apiUrl()}${plugin.api.base_path}`)),
    many
      ? [endpointTable(`${plugin.display_name} endpoints (first ${ENDPOINTS_SHOWN})`, endpoints.slice(0, ENDPOINTS_SHOWN)),
        h("details", { class: "more" }, h("summary", {}, `Show all ${endpoints.length} endpoints`),
          endpointTable(`All ${plugin.display_name} endpoints`, endpoints))]
      : endpointTable(`${plugin.display_name} endpoints`, endpoints),
  ];
}

function plansView(plugin, ctx, held) {
  const plans = plugin.plans || [];
  if (!plans.length) {
    return h("div", { class: "plan-grid" }, h("div", { class: "plan" },
      h("h3", {}, "Pay per call"),
      h("p", { class: "plan-price" }, priceLine(plugin.pricing)),
      h("p", {}, freeTierLine(plugin.pricing)),
      h("p", { class: "muted small" }, `Tier: ${plugin.pricing.tier}. Only calls the plugin answers (status below 500) are billed; sandbox keys are never billed.`)));
  }
  return h("ul", { class: "plan-grid" }, plans.map((plan) => {
    const buyable = plan.kind !== "free" && plan.kind !== "custom" && (plan.price_cents || 0) > 0;
    const action = buyable
      ? actionButton(plan.kind === "subscription" ? `Subscribe to ${plan.name}` : `Buy ${plan.name}`, async () => {
        if (!session()) {
          ctx.navigate("/login", { next: `/plugins/${plugin.name}` });
          return;
        }
        try {
          const here = `${location.origin}${location.pathname}`;
          const checkout = await api.post("/billing/checkout", {
            plugin: plugin.name, plan: plan.id, success_url: `${here}#/my-plugins`, cancel_url: `${here}#/plugins/${plugin.name}`,
          });
          announce(`Redirecting to checkout for ${plan.name}…`);
          if (/^https?:\/\//.test(checkout.url)) location.assign(checkout.url);
        } catch (error) {
          announce(error.message, "error");
        }
      }, { class: "primary" })
      : null;
    return h("li", { class: ["plan", held === plan.id ? "held" : ""] },
      h("h3", {}, plan.name, held === plan.id ? h("span", { class: "badge" }, "Your plan") : null),
      h("p", { class: "plan-price" }, planPrice(plan)),
      plan.included_calls !== undefined ? h("p", {}, plan.included_calls === -1 ? "Unlimited calls" : `${number(plan.included_calls)} calls / month included`) : null,
      plan.overage_price_micros ? h("p", { class: "muted small" }, `then ${micros(plan.overage_price_micros)} per call`) : null,
      plan.trial_days ? h("p", { class: "muted small" }, `${plan.trial_days}-day free trial`) : null,
      Array.isArray(plan.features) && plan.features.length ? h("ul", { class: "features" }, plan.features.map((f) => h("li", {}, String(f).replace(/[_:-]+/g, " ")))) : null,
      plan.kind === "custom" ? h("p", { class: "muted small" }, "Contact sales for this plan.") : null,
      action);
  }));
}

function changes(entry) {
  if (entry.changes && entry.changes.length) return h("ul", { class: "changelog" }, entry.changes.map((c) => h("li", {}, c)));
  return h("p", { class: "changelog" }, entry.changelog || "No changelog for this version.");
}

function versionsView(plugin) {
  const published = new Set((plugin.versions || []).map((v) => v.version));
  // Earlier entries of the newest manifest's changelog (versions no longer or never listed here).
  const earlier = (plugin.changelog || []).filter((e) => !published.has(e.version));
  return h("ol", { class: "versions" },
    (plugin.versions || []).map((v) => h("li", {},
      h("p", {}, h("strong", {}, v.version), " ", h("span", { class: "muted small" }, `${v.status} · ${date(v.published_at)}`)),
      changes(v))),
    earlier.map((e) => h("li", {},
      h("p", {}, h("strong", {}, e.version), " ", h("span", { class: "muted small" }, e.date ? `released ${e.date}` : "earlier")),
      changes(e))));
}

// --- how to call it --------------------------------------------------------------------
// Keys are shown once, at creation, and the API never returns one again: the snippets carry a
// placeholder, name the reader's test keys by their prefix, and use a real key only if the
// reader creates one here (kept in this page's memory, never stored).
export const KEY_PLACEHOLDER = "YOUR_MF_TEST_KEY";
const LANGUAGES = [["python", "Python"], ["node", "Node.js"], ["curl", "curl"]];

export function fillSnippet(template, baseUrl, key) {
  return template.split("{{BASE_URL}}").join(baseUrl).split("{{API_KEY}}").join(key);
}

function copyButton(code) {
  return h("button", {
    type: "button", class: "secondary small",
    onClick: async () => {
      try {
        await navigator.clipboard.writeText(code.textContent);
        announce("Copied.", "success");
      } catch (error) {
        announce("Copying failed: select the text and copy it.", "error");
      }
    },
  }, "Copy");
}

function snippetsView(plugin) {
  const snippets = (plugin.client && plugin.client.snippets) || {};
  const baseUrl = `${apiUrl()}${plugin.api.base_path}`;
  const available = LANGUAGES.filter(([lang]) => snippets[lang]);
  let key = null;
  const blocks = h("div", { class: "snippets" });
  const render = () => mount(blocks, available.map(([lang, label]) => {
    const code = h("code", { "data-language": lang }, fillSnippet(snippets[lang], baseUrl, key || KEY_PLACEHOLDER));
    return h("div", { class: "snippet" }, h("div", { class: "snippet-head" }, h("h3", {}, label), copyButton(code)),
      h("pre", { class: "code-block", tabindex: "0", "aria-label": `${label} example` }, code));
  }));
  render();
  const keyNote = h("div", { class: "key-note", "aria-live": "polite" });
  if (!session()) {
    mount(keyNote, h("p", { class: "muted small" }, "Replace ", h("code", {}, KEY_PLACEHOLDER),
      " with one of your marketplace API keys: ", h("a", { href: "#/login" }, "sign in"), " to create one."));
  } else {
    const create = actionButton("Create a test key for these examples", async () => {
      try {
        const created = await api.post("/keys", { name: `examples: ${plugin.name}`.slice(0, 60), mode: "test" });
        key = created.api_key;
        render();
        mount(keyNote, h("p", { class: "notice" }, "The examples now hold your new sandbox key ",
          h("code", {}, `${created.prefix || key.slice(0, 12)}…`), ". It is shown only on this page, now: copy what you need before you leave."));
      } catch (error) {
        announce(error.message, "error");
      }
    }, { class: "secondary", id: "snippet-key" });
    mount(keyNote, h("p", { class: "muted small", id: "key-prefixes" }, "Loading your keys…"), create);
    api.get("/keys").then((data) => {
      if (key) return;
      const tests = (data.keys || []).filter((k) => k.mode === "test" && k.status === "active");
      const hint = document.getElementById("key-prefixes");
      if (!hint) return;
      mount(hint, tests.length
        ? ["Replace ", h("code", {}, KEY_PLACEHOLDER), " with one of your sandbox keys (shown once, when created): ",
          tests.map((k, n) => [n ? ", " : "", h("code", {}, `${k.prefix}…`), ` (${k.name})`])]
        : ["You have no sandbox key yet: create one, or paste any key where the examples say ", h("code", {}, KEY_PLACEHOLDER), "."]);
    }).catch(() => {});
  }
  return [
    h("p", {}, "Base URL: ", h("code", { class: "break", id: "base-url" }, baseUrl),
      ". Your marketplace key is the credential, carried the way the vendor's SDK sends its own."),
    keyNote,
    available.length ? blocks : emptyState("This plugin ships no examples; see its README and endpoints."),
  ];
}

// Folded, and rendered when opened: a README repeats what this page shows (its endpoints) and is long.
function readmeView(readme) {
  const body = h("div", { class: "markdown" });
  const folded = h("details", { class: "readme" },
    h("summary", {}, `Read the developer's README (${readme.split("\n").length} lines)`), body);
  folded.addEventListener("toggle", () => mount(body, folded.open ? renderMarkdown(readme) : []));
  return folded;
}

// --- fidelity --------------------------------------------------------------------------------
function fidelityView(plugin) {
  const report = plugin.fidelity_report;
  if (!report) return emptyState("Not measured: this plugin ships no vendor OpenAPI document.");
  const spec = report.spec || {};
  const cov = report.coverage || {};
  const conf = report.conformance;
  const resources = cov.resources || [];
  return [
    h("p", { class: "fidelity-figures" }, fidelityLine(plugin.fidelity)),
    h("p", { class: "muted small" }, `Against ${spec.title} ${spec.version}`, spec.license ? ` (${spec.license})` : "",
      spec.source ? `, from ${spec.source}` : "", "."),
    spec.note ? h("p", { class: "notice" }, `Note: ${spec.note}.`) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "Coverage"), h("dd", {}, `${cov.implemented} of the spec's ${cov.total} operations implemented`),
      h("dt", {}, "Conformance"), h("dd", {}, conf
        ? `${conf.valid} of ${conf.total} answers valid against the spec's schema for their operation and status`
        : "not measured (no answers recorded)"),
      h("dt", {}, "Measured by"), h("dd", {}, report.measured_by || "unknown")),
    resources.length ? h("div", { class: "table-wrap" }, h("table", { class: "fidelity-table" },
      h("caption", {}, "Operations implemented per resource"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Resource"), h("th", { scope: "col" }, "Implemented"), h("th", { scope: "col" }, "Operations"))),
      h("tbody", {}, resources.map((r) => h("tr", {}, h("td", {}, r.resource), h("td", {}, `${r.implemented} / ${r.total}`),
        h("td", { class: "small" }, (r.operations || []).join(", "))))))) : null,
    cov.resources_total > resources.length ? h("p", { class: "muted small" }, `${cov.resources_total - resources.length} other resources of the spec are not implemented.`) : null,
    conf && conf.failures && conf.failures.length ? h("details", { class: "more" }, h("summary", {}, "Answers that did not validate"),
      h("ul", {}, conf.failures.map((f) => h("li", {}, h("code", {}, `${f.operation} ${f.status}`), ` (${f.count}×): ${f.problem}`)))) : null,
  ];
}

function reviewsView(plugin) {
  const box = h("div", {});
  const list = h("div", {});
  const refresh = () => load(list, () => api.get(`/marketplace/plugins/${enc(plugin.name)}/reviews`, { sort: "helpful" }, { auth: false }),
    (data) => {
      const sum = data.summary;
      const bars = [5, 4, 3, 2, 1].map((n) => {
        const c = sum.distribution[String(n)] || 0;
        return h("li", {}, `${n} ★ `, h("progress", { max: Math.max(sum.count, 1), value: c, "aria-label": `${n} stars: ${c} reviews` }), ` ${c}`);
      });
      return [
        h("p", { class: "rating-summary" }, h("span", { class: "big", "aria-hidden": "true" }, stars(sum.average)),
          ` ${sum.average.toFixed(1)} out of 5 from ${number(sum.count)} review${sum.count === 1 ? "" : "s"}`),
        h("ul", { class: "distribution" }, bars),
        data.reviews.length
          ? h("ul", { class: "reviews" }, data.reviews.map((r) => h("li", { class: "review" },
            h("p", {}, h("span", { "aria-label": `${r.stars} stars` }, stars(r.stars)), " ", h("strong", {}, r.author || "A user"), " ", h("span", { class: "muted small" }, date(r.created_at || r.updated_at))),
            h("p", {}, r.comment || ""),
            r.reply ? h("p", { class: "reply" }, h("strong", {}, "Developer: "), typeof r.reply === "string" ? r.reply : r.reply.text || "") : null)))
          : emptyState("No reviews yet. Users who have called this plugin can review it."),
      ];
    }, { label: "Loading reviews" });

  let form = null;
  if (session()) {
    const starsSelect = h("select", { name: "stars" }, [5, 4, 3, 2, 1].map((n) => h("option", { value: n }, `${n} star${n === 1 ? "" : "s"}`)));
    const comment = h("textarea", { name: "comment", rows: 3, maxlength: 2000 });
    const errors = h("div", {});
    form = h("form", { class: "review-form" }, h("h3", {}, "Write a review"), field("Rating", starsSelect), field("Comment", comment), errors,
      h("button", { type: "submit", class: "secondary" }, "Submit review"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      mount(errors);
      try {
        await api.put(`/marketplace/plugins/${enc(plugin.name)}/reviews`, { stars: Number(starsSelect.value), comment: comment.value });
        announce("Thanks, your review is saved.", "success");
        comment.value = "";
        refresh();
      } catch (error) {
        mount(errors, formError(error));
      }
    });
  }
  mount(box, list, form);
  refresh();
  return box;
}

export async function render(container, ctx) {
  const name = ctx.params[0];
  await load(container, async () => {
    const [plugin, installed] = await Promise.all([
      api.get(`/marketplace/plugins/${enc(name)}`, undefined, { auth: false }),
      installedNames(),
    ]);
    let trial = null;
    if (session() && (plugin.plans || []).some((p) => p.kind === "subscription")) {
      trial = await api.get(`/trials/${enc(name)}`).catch(() => null);
    }
    return { plugin, installed: installed.has(name), trial };
  }, ({ plugin, installed, trial }) => {
    ctx.setTitle(plugin.display_name);
    const actions = h("div", { class: "detail-actions" });
    const renderActions = (isInstalled) => {
      const install = isInstalled
        ? h("a", { class: "button secondary", href: "#/my-plugins" }, "Installed — manage")
        : actionButton("Install", async () => {
          try {
            const done = await installPlugin(plugin.name, { navigate: ctx.navigate, detail: plugin });
            if (done) renderActions(true);
          } catch (error) {
            announce(error.message, "error");
          }
        }, { class: "primary", id: "install-button" });
      const trialButton = trial && trial.status === "available"
        ? actionButton(`Start ${trial.days}-day trial`, async () => {
          try {
            const started = await api.post(`/trials/${enc(plugin.name)}`);
            announce(`Your trial of ${plugin.display_name} runs for ${started.days_remaining} days.`, "success");
            trial = started;
            renderActions(isInstalled);
          } catch (error) {
            announce(error.message, "error");
          }
        }, { class: "secondary" })
        : trial && trial.status === "active" ? h("span", { class: "badge" }, `Trial: ${trial.days_remaining} days left`) : null;
      const purchase = (plugin.plans || []).some((p) => (p.price_cents || 0) > 0)
        ? h("button", {
          type: "button", class: "secondary",
          onClick: () => { const plans = document.getElementById("plans"); plans.scrollIntoView(); plans.querySelector("h2").focus(); },
        }, "See plans") : null;
      mount(actions, install, purchase, trialButton);
    };
    renderActions(installed);
    const plansSection = section("Pricing", plansView(plugin, ctx, null));
    plansSection.id = "plans";
    return [
      h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Catalog"), " / ", h("span", { "aria-current": "page" }, plugin.display_name)),
      h("header", { class: "detail-header card" },
        pluginIcon(plugin, "lg"),
        h("div", { class: "detail-title" },
          h("h1", {}, plugin.display_name, " ", verifiedBadge(plugin)),
          h("p", { class: "muted" }, `by ${plugin.author && plugin.author.name ? plugin.author.name : "unknown"} · ${plugin.category} · v${plugin.latest_version} · ${plugin.license || "no licence"}`),
          h("p", { class: "stats" }, h("span", { "aria-hidden": "true" }, stars(plugin.rating.average)),
            ` ${plugin.rating.average.toFixed(1)} (${number(plugin.rating.count)} reviews) · ${number(plugin.install_count)} installs · ${priceLine(plugin.pricing)}`)),
        actions),
      section("About", h("p", { class: "description" }, plugin.description),
        plugin.tags && plugin.tags.length ? h("ul", { class: "tags", "aria-label": "Tags" }, plugin.tags.map((t) => h("li", {}, t))) : null,
        h("dl", { class: "facts" },
          h("dt", {}, "Runtime"), h("dd", {}, `${plugin.runtime.language} ${plugin.runtime.version}, ${plugin.runtime.memory_limit_mb} MB, ${plugin.runtime.timeout_seconds} s timeout`),
          h("dt", {}, "Credentials"), h("dd", {}, "Your marketplace API key, carried the way the vendor's SDK sends its own (Bearer, Basic, X-Api-Key)."))),
      section("Call it", snippetsView(plugin)),
      section("Fidelity to the vendor's API", fidelityView(plugin)),
      plugin.readme ? section("README", readmeView(plugin.readme)) : null,
      plansSection,
      section("Permissions", permissionList(plugin.permissions)),
      section("Endpoints", endpointsTable(plugin)),
      section("Versions and changelog", versionsView(plugin)),
      section("Reviews", reviewsView(plugin)),
    ];
  }, { label: "Loading the plugin" });
}
