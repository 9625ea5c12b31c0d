// API keys: create (the secret is shown once), rotate (a new secret, the old one stops
// working), revoke.
import { api, enc } from "../api.js";
import { actionButton, announce, confirmDialog, field, formError, h, load, mount } from "../dom.js";
import { dateTime } from "../format.js";

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
    h("div", { class: "inline-field" }, h("label", { for: "new-key-secret" }, `Key “${created.name}”`), input, copy));
}

export async function render(container) {
  const secretSlot = h("div", { "aria-live": "polite" });
  const list = h("div", {});

  const refresh = () => load(list, () => api.get("/keys"), (data) => h("div", { class: "table-wrap" }, h("table", { class: "keys-table" },
    h("caption", { class: "sr-only" }, "Your API keys"),
    h("thead", {}, h("tr", {}, ["Name", "Key", "Mode", "Created", "Last used", "Status", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, data.keys.map((k) => h("tr", { dataset: { key: k.key_id } },
      h("td", {}, k.name),
      h("td", {}, h("code", {}, `${k.prefix}…`)),
      h("td", {}, h("span", { class: `badge ${k.mode === "live" ? "warn" : "info"}` }, k.mode === "live" ? "live" : "sandbox")),
      h("td", {}, dateTime(k.created_at)),
      h("td", {}, k.last_used_at ? dateTime(k.last_used_at) : "never"),
      h("td", {}, h("span", { class: `badge ${k.status === "active" ? "ok" : "off"}` }, k.status)),
      h("td", { class: "row-actions" }, k.status === "active" ? [
        actionButton("Rotate", async () => {
          const ok = await confirmDialog({ title: `Rotate “${k.name}”?`, body: "You get a new secret; the current one stops working at once.", confirm: "Rotate" });
          if (!ok) return;
          try {
            const rotated = await api.post(`/keys/${enc(k.key_id)}/rotate`);
            mount(secretSlot, secretPanel(rotated, "Your rotated key"));
            announce(`Key “${k.name}” rotated. Copy the new secret now.`, "success");
            refresh();
          } catch (error) {
            announce(error.message, "error");
          }
        }, { class: "secondary small", "aria-label": `Rotate key ${k.name} (${k.prefix})` }),
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
  const errors = h("div", {});
  const form = h("form", { class: "card form inline-form", "aria-labelledby": "create-key-title" },
    h("h2", { id: "create-key-title" }, "Create a key"),
    h("div", { class: "row" }, field("Name", name), field("Mode", mode)),
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
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const created = await api.post("/keys", { name: name.value.trim(), mode: mode.value });
      mount(secretSlot, secretPanel(created, "Your new key"));
      announce(`Key “${created.name}” created. Copy it now.`, "success");
      name.value = "";
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
    h("p", { class: "lead" }, "Call your installed plugins with these keys, the way the vendor's SDK sends its own credential."),
    form, secretSlot, h("h2", {}, "Your keys"), list);
  await refresh();
  return null;
}

