// API keys: create (the secret is shown once; default scopes for the mode, or a restricted key
// with chosen scopes, plugins and expiry), rotate (a new secret, the old one stops working), revoke.
import { api, enc } from "../api.js";
import { actionButton, announce, confirmDialog, field, formError, h, load, mount, uid } from "../dom.js";
import { dateTime } from "../format.js";

const PLUGIN_NAME = /^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/;
const PLUGIN_SCOPES = ["gateway", "installs:write"];  // the ones a plugin list limits

function secretPanel(created, heading) {
  const input = h("input", { type: "text", id: "new-key-secret", readOnly: true, value: created.api_key, class: "secret", spellcheck: "false" });
  const copy = h("button", { type: "button", class: "secondary" }, "Copy");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(created.api_key);
      announce("Key copied to the clipboard.", "success");
    } catch {
      announce("Select the key and copy it yourself (the clipboard is not available here).", "info");
    }
  });
  return h("div", { class: "card secret-panel", role: "region", "aria-labelledby": "secret-title" },
    h("h2", { id: "secret-title" }, heading),
    h("p", {}, h("strong", {}, "Copy it now: it will not be shown again."), ` ${created.mode === "live" ? "Live keys are billed past the free tier." : "Sandbox keys (mf_test_) are never billed."}`),
    h("p", { class: "small" }, `Scopes: ${created.scopes.join(", ")}${created.plugins ? ` · only ${created.plugins.join(", ")}` : ""}${created.expires_at ? ` · expires ${dateTime(created.expires_at)}` : ""}`),
    h("div", { class: "inline-field" }, h("label", { for: "new-key-secret" }, `Key “${created.name}”`), input, copy));
}

function statusBadge(status) {
  const kind = status === "active" ? "ok" : status === "expired" ? "warn" : "off";
  return h("span", { class: `badge ${kind}` }, status);
}

function scopeBadges(k) {
  return h("span", { class: "badges", "aria-label": `Scopes: ${k.scopes.join(", ")}` }, k.scopes.map((s) => h("code", { class: "scope" }, s)));
}

/** One checkbox per scope the API offers; the description is tied to it, not part of its label. */
function scopeChoices(fieldset, scopes) {
  mount(fieldset, h("legend", {}, "Scopes (a restricted key)"),
    h("p", { class: "hint" }, "None checked: the mode's default (sandbox keys call plugins and read usage; live keys only call plugins). Managing keys, billing and admin always need a signed-in session."),
    Object.entries(scopes).map(([scope, meaning]) => {
      const id = uid("scope");
      return h("div", { class: "check-field" },
        h("input", { type: "checkbox", id, name: "scopes", value: scope, "aria-describedby": `${id}-what` }),
        " ", h("label", { for: id }, scope),
        h("span", { class: "muted small", id: `${id}-what` }, ` — ${meaning}`));
    }));
}

export async function render(container) {
  const secretSlot = h("div", { "aria-live": "polite" });
  const list = h("div", {});

  const refresh = () => load(list, () => api.get("/keys"), (data) => h("div", { class: "table-wrap" }, h("table", { class: "keys-table" },
    h("caption", { class: "sr-only" }, "Your API keys"),
    h("thead", {}, h("tr", {}, ["Name", "Key", "Mode", "Scopes", "Plugins", "Created", "Last used", "Expires", "Status", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, data.keys.map((k) => h("tr", { dataset: { key: k.key_id } },
      h("td", {}, k.name),
      h("td", {}, h("code", {}, `${k.prefix}…`)),
      h("td", {}, h("span", { class: `badge ${k.mode === "live" ? "warn" : "info"}` }, k.mode === "live" ? "live" : "sandbox")),
      h("td", { dataset: { cell: "scopes" } }, scopeBadges(k)),
      h("td", { dataset: { cell: "plugins" } }, k.plugins ? k.plugins.join(", ") : "all"),
      h("td", {}, dateTime(k.created_at)),
      h("td", {}, k.last_used_at ? dateTime(k.last_used_at) : "never"),
      h("td", { dataset: { cell: "expires" } }, k.expires_at ? dateTime(k.expires_at) : "never"),
      h("td", {}, statusBadge(k.status)),
      h("td", { class: "row-actions" }, k.status !== "revoked" ? [
        k.status === "active" ? actionButton("Rotate", async () => {
          const ok = await confirmDialog({ title: `Rotate “${k.name}”?`, body: "You get a new secret with the same scopes, plugins and expiry; the current one stops working at once.", confirm: "Rotate" });
          if (!ok) return;
          try {
            const rotated = await api.post(`/keys/${enc(k.key_id)}/rotate`);
            mount(secretSlot, secretPanel(rotated, "Your rotated key"));
            announce(`Key “${k.name}” rotated. Copy the new secret now.`, "success");
            refresh();
          } catch (error) {
            announce(error.message, "error");
          }
        }, { class: "secondary small", "aria-label": `Rotate key ${k.name} (${k.prefix})` }) : null,
        actionButton("Revoke", async () => {
          const ok = await confirmDialog({ title: `Revoke “${k.name}”?`, body: "Calls with this key will be refused. This cannot be undone.", confirm: "Revoke", danger: true });
          if (!ok) return;
          try {
            await api.del(`/keys/${enc(k.key_id)}`);
            announce(`Key “${k.name}” revoked.`, "success");
            refresh();
          } catch (error) {
            announce(error.message, "error");
          }
        }, { class: "danger small", "aria-label": `Revoke key ${k.name} (${k.prefix})` }),
      ] : "—")))))), {
    label: "Loading your keys",
    isEmpty: (data) => data.keys.length === 0,
    empty: "You have no API key yet. Create one to call your installed plugins.",
  });

  const name = h("input", { type: "text", name: "name", required: true, maxlength: 64, placeholder: "e.g. laptop, CI" });
  const mode = h("select", { name: "mode" }, h("option", { value: "test" }, "Sandbox (mf_test_, never billed)"), h("option", { value: "live" }, "Live (mf_live_, billed past the free tier)"));
  const scopes = h("fieldset", { class: "scope-choices" }, h("legend", {}, "Scopes (a restricted key)"));
  const expires = h("input", { type: "date", name: "expires", min: new Date(Date.now() + 86400000).toISOString().slice(0, 10) });
  const plugins = h("input", { type: "text", name: "plugins", autocomplete: "off", spellcheck: "false", placeholder: "e.g. stripe, twilio" });
  const errors = h("div", {});
  const form = h("form", { class: "card form inline-form", "aria-labelledby": "create-key-title" },
    h("h2", { id: "create-key-title" }, "Create a key"),
    h("div", { class: "row" }, field("Name", name), field("Mode", mode)),
    scopes,
    h("div", { class: "row" },
      field("Expires on", expires, { hint: "Optional: the key stops working at the start of this day (UTC)." }),
      field("Limit to plugins", plugins, { hint: "Optional, comma-separated: calls and install changes only for these." })),
    errors,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create key")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mount(errors);
    if (!name.value.trim()) {
      mount(errors, formError({ message: "Give the key a name." }));
      name.focus();
      return;
    }
    const body = { name: name.value.trim(), mode: mode.value };
    const chosen = [...scopes.querySelectorAll("input[name=scopes]:checked")].map((box) => box.value);
    if (chosen.length) body.scopes = chosen;
    const only = plugins.value.split(",").map((p) => p.trim()).filter(Boolean);
    if (only.length) {
      const bad = only.find((p) => !PLUGIN_NAME.test(p));
      if (bad) {
        mount(errors, formError({ message: `“${bad}” is not a plugin name (lowercase letters, digits and dashes).` }));
        plugins.focus();
        return;
      }
      if (chosen.length && !chosen.some((s) => PLUGIN_SCOPES.includes(s))) {
        mount(errors, formError({ message: "A plugin list limits calling plugins (gateway) and install changes (installs:write); check one of them." }));
        plugins.focus();
        return;
      }
      body.plugins = [...new Set(only)];
    }
    if (expires.value) body.expires_at = expires.value;
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const created = await api.post("/keys", body);
      mount(secretSlot, secretPanel(created, "Your new key"));
      announce(`Key “${created.name}” created. Copy it now.`, "success");
      name.value = "";
      plugins.value = "";
      expires.value = "";
      scopes.querySelectorAll("input[name=scopes]").forEach((box) => { box.checked = false; });
      secretSlot.querySelector("input").focus();
      refresh();
    } catch (error) {
      mount(errors, formError(error));
    } finally {
      submit.disabled = false;
    }
  });

  mount(container,
    h("h1", {}, "API keys"),
    h("p", { class: "lead" }, "Call your installed plugins with these keys, the way the vendor's SDK sends its own credential. A key does only what its scopes allow; this page, billing and your account need you signed in."),
    form, secretSlot, h("h2", {}, "Your keys"), list);
  const data = await refresh();
  if (data && data.scopes) scopeChoices(scopes, data.scopes);
  return null;
}
