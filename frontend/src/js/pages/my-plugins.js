// My plugins: what the user installed, enable/disable, a configuration form generated from
// the plugin's config schema, update available, uninstall, and this month's usage and quota.
import { api, apiUrl, enc } from "../api.js";
import { actionButton, announce, confirmDialog, emptyState, field, formError, h, load, mount, setFieldError, uid } from "../dom.js";
import { currentMonth, freeTierLine, number, priceLine } from "../format.js";
import { permissionList } from "../install.js";

// --- the configuration form, from a JSON Schema (object of scalar properties) ---------------
function controlFor(name, prop, value) {
  const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
  if (Array.isArray(prop.enum)) {
    return h("select", { name }, prop.enum.map((v) => h("option", { value: JSON.stringify(v), selected: v === value }, String(v))));
  }
  if (type === "boolean") return h("input", { type: "checkbox", name, checked: Boolean(value) });
  if (type === "integer" || type === "number") {
    return h("input", { type: "number", name, value: value ?? "", step: type === "integer" ? 1 : "any", min: prop.minimum, max: prop.maximum });
  }
  const secret = /token|secret|password|key/i.test(name);
  return h("input", {
    type: secret ? "password" : (prop.format === "uri" ? "url" : "text"), name, value: value ?? "",
    maxlength: prop.maxLength, autocomplete: "off", spellcheck: "false",
  });
}

function readControl(control, prop) {
  const type = Array.isArray(prop.type) ? prop.type.find((t) => t !== "null") : prop.type;
  if (Array.isArray(prop.enum)) return JSON.parse(control.value);
  if (type === "boolean") return control.checked;
  if (type === "integer" || type === "number") return control.value === "" ? undefined : Number(control.value);
  return control.value;
}

export function configForm(install, schemaDoc, onSaved) {
  const schema = (schemaDoc && schemaDoc.schema) || {};
  const props = schema.properties || {};
  const names = Object.keys(props);
  if (!names.length) return emptyState(`${install.display_name} has no settings.`);
  const controls = {};
  const errors = h("div", {});
  const fields = names.map((name) => {
    const prop = props[name];
    const control = controlFor(name, prop, install.config[name]);
    control.id = uid(`cfg-${name}`);
    controls[name] = control;
    const required = (schema.required || []).includes(name);
    const label = `${name.replace(/_/g, " ")}${required ? " (required)" : ""}`;
    return field(label, control, { hint: prop.description || "" });
  });
  const form = h("form", { class: "config-form" }, fields, errors, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save settings")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mount(errors);
    Object.values(controls).forEach((c) => setFieldError(c, ""));
    const config = {};
    for (const name of names) {
      const value = readControl(controls[name], props[name]);
      if (value !== undefined && !(value === "" && !(name in install.config))) config[name] = value;
    }
    try {
      const saved = await api.put(`/plugins/installed/${enc(install.plugin)}/config`, { config });
      announce(`Settings of ${install.display_name} saved.`, "success");
      onSaved(saved);
    } catch (error) {
      for (const d of Array.isArray(error.details) ? error.details : []) {
        const control = controls[String(d.path || "").split(".")[0]];
        if (control) setFieldError(control, d.message);
      }
      mount(errors, formError(error));
    }
  });
  return form;
}

// --- usage -----------------------------------------------------------------------------------
function usageView(install, usage, stats) {
  const live = usage ? usage.live : null;
  const sandbox = usage ? usage.sandbox : null;
  const rows = [];
  if (live) {
    rows.push(h("div", { class: "metric" }, h("dt", {}, "Live calls"), h("dd", { "data-metric": "live-calls" }, number(live.calls))));
    rows.push(h("div", { class: "metric" }, h("dt", {}, "Billable"), h("dd", {}, number(live.billable))));
  }
  if (sandbox) rows.push(h("div", { class: "metric" }, h("dt", {}, "Sandbox calls"), h("dd", { "data-metric": "sandbox-calls" }, number(sandbox.calls))));
  const errorsCount = (live ? live.errors : 0) + (sandbox ? sandbox.errors : 0);
  rows.push(h("div", { class: "metric" }, h("dt", {}, "Errors"), h("dd", {}, number(errorsCount))));
  const free = live && live.free_tier_calls > 0
    ? h("div", { class: "meter-row" }, h("label", { for: `free-${install.plugin}` }, `Free calls used: ${number(live.free_calls_used)} of ${number(live.free_tier_calls)}`),
      h("meter", { id: `free-${install.plugin}`, min: 0, max: live.free_tier_calls, value: live.free_calls_used, low: live.free_tier_calls * 0.8, high: live.free_tier_calls * 0.95, optimum: 0 }))
    : null;
  const quota = stats && stats.quota;
  const quotaRow = quota && quota.limit !== -1
    ? h("div", { class: "meter-row" }, h("label", { for: `quota-${install.plugin}` }, `Quota: ${number(quota.used)} of ${number(quota.limit)} calls (${number(quota.remaining)} left)`),
      h("meter", { id: `quota-${install.plugin}`, min: 0, max: quota.limit, value: quota.used, low: quota.limit * 0.8, high: quota.limit * 0.9, optimum: 0 }))
    : h("p", { class: "muted small" }, `Quota: ${stats ? "no monthly cap on your plan" : "—"}${stats && stats.plan ? ` · plan: ${stats.plan}` : ""}`);
  return h("div", { class: "usage" }, h("h3", {}, "Usage this month"), h("dl", { class: "metrics" }, rows), free, quotaRow);
}

function installCard(install, usage, stats, refresh, ctx) {
  const body = h("div", { class: "install-body" });
  const configBox = h("div", { class: "config-box", hidden: true });
  const configToggle = h("button", { type: "button", class: "secondary", "aria-expanded": "false" }, "Configure");
  configToggle.addEventListener("click", async () => {
    const open = configToggle.getAttribute("aria-expanded") !== "true";
    configToggle.setAttribute("aria-expanded", String(open));
    configBox.hidden = !open;
    if (open) {
      await load(configBox, () => api.get(`/marketplace/plugins/${enc(install.plugin)}`, undefined, { auth: false }),
        (detail) => configForm(install, detail.config, (saved) => { install.config = saved.config; }), { label: "Loading the settings" });
    }
  });

  const toggle = actionButton(install.enabled ? "Disable" : "Enable", async () => {
    try {
      await api.post(`/plugins/installed/${enc(install.plugin)}/${install.enabled ? "disable" : "enable"}`);
      announce(`${install.display_name} is ${install.enabled ? "disabled" : "enabled"}.`, "success");
      refresh();
    } catch (error) {
      announce(error.message, "error");
    }
  }, { class: "secondary", "aria-pressed": String(!install.enabled), "aria-label": `${install.enabled ? "Disable" : "Enable"} ${install.display_name}` });

  const upgrade = install.update_available
    ? actionButton(`Update to ${install.update_available}`, async () => {
      try {
        const detail = await api.get(`/marketplace/plugins/${enc(install.plugin)}`, undefined, { auth: false });
        const ok = await confirmDialog({
          title: `Update ${install.display_name} to ${install.update_available}?`,
          body: h("div", {}, h("p", {}, "A new major version may change endpoints. It will be able to:"), permissionList(detail.permissions)),
          confirm: "Update",
        });
        if (!ok) return;
        await api.post(`/plugins/installed/${enc(install.plugin)}/upgrade`, { version: install.update_available, accept_permissions: detail.permissions || [] });
        announce(`${install.display_name} updated to ${install.update_available}.`, "success");
        refresh();
      } catch (error) {
        announce(error.message, "error");
      }
    }, { class: "primary" })
    : null;

  const uninstall = actionButton("Uninstall", async () => {
    const ok = await confirmDialog({
      title: `Uninstall ${install.display_name}?`, body: "Calls to it will be refused until you install it again.", confirm: "Uninstall", danger: true,
    });
    if (!ok) return;
    try {
      await api.post("/plugins/uninstall", { plugin: install.plugin });
      announce(`${install.display_name} is uninstalled.`, "success");
      refresh();
    } catch (error) {
      announce(error.message, "error");
    }
  }, { class: "danger", "aria-label": `Uninstall ${install.display_name}` });

  const statusBadges = [
    h("span", { class: `badge ${install.enabled ? "ok" : "off"}` }, install.enabled ? "Enabled" : "Disabled"),
    install.plugin_status !== "active" ? h("span", { class: "badge warn" }, `Plugin ${install.plugin_status}`) : null,
    install.update_available ? h("span", { class: "badge info" }, `Update available: ${install.update_available}`) : null,
  ];
  mount(body,
    h("p", { class: "muted small" }, `Version ${install.version} · installed ${install.installed_at.slice(0, 10)} · ${priceLine(install.pricing)}, ${freeTierLine(install.pricing)}`),
    h("p", {}, "Base URL: ", h("code", { class: "break" }, `${apiUrl()}${install.base_path}`)),
    usageView(install, usage, stats),
    h("div", { class: "card-actions" }, toggle, configToggle, upgrade, uninstall),
    configBox);
  return h("li", { class: "card install-card", dataset: { plugin: install.plugin } },
    h("div", { class: "card-head" },
      h("h2", { class: "card-title" }, h("a", { href: `#/plugins/${install.plugin}` }, install.display_name)),
      h("div", { class: "badges" }, statusBadges)),
    body);
}

export async function render(container, ctx) {
  const list = h("div", {});
  const month = currentMonth();
  const refresh = () => load(list, async () => {
    const [installed, usage, stats] = await Promise.all([
      api.get("/plugins/installed"), api.get("/usage", { month }), api.get("/usage/stats", { period: month }),
    ]);
    return { installed, usage, stats };
  }, ({ installed, usage, stats }) => {
    const usageBy = Object.fromEntries((usage.plugins || []).map((u) => [u.plugin, u]));
    const statsBy = Object.fromEntries((stats.plugins || []).map((u) => [u.plugin, u]));
    return h("ul", { class: "install-list" }, installed.installs.map((i) => installCard(i, usageBy[i.plugin], statsBy[i.plugin], refresh, ctx)));
  }, {
    label: "Loading your plugins",
    isEmpty: ({ installed }) => installed.installs.length === 0,
    empty: () => emptyState("You have not installed any plugin yet.", h("a", { href: "#/", class: "button primary" }, "Browse the catalog")),
  });
  mount(container,
    h("h1", {}, "My plugins"),
    h("p", { class: "lead" }, `Your installed plugins and their usage in ${month} (UTC). Calls with a sandbox key (mf_test_) are counted but never billed.`),
    h("div", { class: "toolbar" }, actionButton("Refresh usage", () => refresh(), { class: "secondary", id: "refresh-usage" })),
    list);
  await refresh();
}
