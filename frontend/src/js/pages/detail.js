// A plugin's page: description, endpoints, pricing plans, versions and changelog,
// permissions, reviews; install, purchase (Stripe Checkout) and trial.
import { api, apiUrl, enc, session } from "../api.js";
import { actionButton, announce, emptyState, field, formError, h, load, mount, uid } from "../dom.js";
import { date, freeTierLine, micros, number, planPrice, priceLine, stars } from "../format.js";
import { installPlugin, installedNames, permissionList } from "../install.js";
import { pluginIcon, verifiedBadge } from "./catalog.js";

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

function versionsView(plugin) {
  return h("ol", { class: "versions" }, (plugin.versions || []).map((v) => h("li", {},
    h("p", {}, h("strong", {}, v.version), " ", h("span", { class: "muted small" }, `${v.status} · ${date(v.published_at)}`)),
    h("p", { class: "changelog" }, v.changelog || "No changelog for this version."))));
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
      plansSection,
      section("Permissions", permissionList(plugin.permissions)),
      section("Endpoints", endpointsTable(plugin)),
      section("Versions and changelog", versionsView(plugin)),
      section("Reviews", reviewsView(plugin)),
    ];
  }, { label: "Loading the plugin" });
}
