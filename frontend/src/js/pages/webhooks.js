// Webhook tester: set where an installed plugin's webhooks go, send a signed sample event
// (mockfactory.test) and watch its delivery, attempt by attempt.
import { api, enc } from "../api.js";
import { actionButton, announce, emptyState, field, formError, h, load, mount } from "../dom.js";
import { dateTime } from "../format.js";

const POLL_MS = 1000;
const POLL_TIMES = 15;

function deliveryView(d) {
  const last = d.attempts && d.attempts.length ? d.attempts[d.attempts.length - 1] : null;
  const stateClass = d.state === "delivered" ? "ok" : d.state === "failed" ? "off" : "info";
  return h("li", { class: "card delivery", dataset: { delivery: d.delivery_id, state: d.state } },
    h("p", {},
      h("span", { class: `badge ${stateClass}` }, d.state), " ",
      h("strong", {}, d.event_type || d.kind), " ",
      h("span", { class: "muted small" }, `${dateTime(d.created_at)} → `), h("code", { class: "break small" }, d.url)),
    h("p", { class: "muted small" }, `Delivery ${d.delivery_id}${last ? ` · last answer: ${last.status ?? "no response"}${last.error ? ` (${last.error})` : ""}` : " · not attempted yet"}`),
    d.attempts && d.attempts.length
      ? h("ol", { class: "attempts", "aria-label": "Attempts" }, d.attempts.map((a) => h("li", {},
        `#${a.number} at ${dateTime(a.at)}: `, a.status ? `HTTP ${a.status}` : "no response", a.error ? ` — ${a.error}` : "")))
      : null,
    d.request ? h("details", {}, h("summary", {}, "Request sent"),
      h("pre", { class: "code" }, Object.entries(d.request.headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n"), "\n\n", d.request.body || "")) : null);
}

export async function render(container) {
  const content = h("div", {});
  mount(container,
    h("h1", {}, "Webhook tester"),
    h("p", { class: "lead" }, "Plugins send their webhooks (e.g. Stripe events, SendGrid delivery reports) to the URL you set, signed with X-MockFactory-Signature. Send a sample event to check your endpoint."),
    content);

  let timer = null;
  await load(content, () => api.get("/plugins/installed"), (data) => {
    const select = h("select", { id: "webhook-plugin", name: "plugin" }, data.installs.map((i) => h("option", { value: i.plugin }, i.display_name)));
    const url = h("input", { type: "url", id: "webhook-url", name: "url", placeholder: "https://example.com/webhooks", maxlength: 2000, autocomplete: "off" });
    const secret = h("p", { class: "muted small", id: "webhook-secret" });
    const errors = h("div", {});
    const deliveries = h("div", { id: "deliveries", "aria-live": "polite" });
    const byName = Object.fromEntries(data.installs.map((i) => [i.plugin, i]));

    const showDeliveries = (plugin) => load(deliveries, () => api.get(`/plugins/installed/${enc(plugin)}/webhook/deliveries`),
      (d) => h("ul", { class: "delivery-list" }, d.deliveries.map(deliveryView)),
      { label: "Loading deliveries", isEmpty: (d) => d.deliveries.length === 0, empty: "No webhook sent to you by this plugin yet." });

    const poll = (plugin, deliveryId, left, delay = POLL_MS) => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        try {
          const d = await api.get(`/plugins/installed/${enc(plugin)}/webhook/deliveries`);
          mount(deliveries, h("ul", { class: "delivery-list" }, d.deliveries.map(deliveryView)));
          const mine = d.deliveries.find((x) => x.delivery_id === deliveryId);
          if (mine && mine.attempts && mine.attempts.length && mine.state !== "pending") {
            announce(`Test event ${mine.state === "delivered" ? "delivered" : mine.state}: HTTP ${mine.attempts[mine.attempts.length - 1].status ?? "no response"}.`, mine.state === "delivered" ? "success" : "error");
            return;
          }
        } catch (error) {
          announce(error.message, "error");
          return;
        }
        if (left > 1) poll(plugin, deliveryId, left - 1);
        else announce("No answer from your endpoint yet; the delivery is retried (see its attempts).", "info");
      }, delay);
    };

    const choose = () => {
      const install = byName[select.value];
      url.value = (install.webhook && install.webhook.url) || "";
      secret.textContent = install.webhook && install.webhook.secret ? `Signing secret: ${install.webhook.secret}` : "No endpoint set yet: a signing secret is created when you save one.";
      mount(errors);
      showDeliveries(install.plugin);
    };
    select.addEventListener("change", choose);

    const form = h("form", { class: "card form", "aria-labelledby": "endpoint-title" },
      h("h2", { id: "endpoint-title" }, "Endpoint"),
      field("Plugin", select),
      field("Webhook URL", url, { hint: "Where this plugin's events are POSTed. Leave empty to stop webhooks." }),
      secret, errors,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "secondary" }, "Save endpoint"),
        actionButton("Send test event", async () => {
          mount(errors);
          const plugin = select.value;
          try {
            const sent = await api.post(`/plugins/installed/${enc(plugin)}/webhook/test`);
            announce(`Test event queued (${sent.delivery_id}); waiting for the delivery…`);
            poll(plugin, sent.delivery_id, POLL_TIMES, 250);
          } catch (error) {
            mount(errors, formError(error));
          }
        }, { class: "primary", id: "send-test" })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      mount(errors);
      const plugin = select.value;
      try {
        const saved = await api.put(`/plugins/installed/${enc(plugin)}/webhook`, { url: url.value.trim() || null });
        byName[plugin] = saved;
        choose();
        announce(saved.webhook.url ? `Webhooks of ${saved.display_name} go to ${saved.webhook.url}.` : `Webhooks of ${saved.display_name} are off.`, "success");
      } catch (error) {
        mount(errors, formError(error));
      }
    });
    setTimeout(choose, 0);
    return [form, h("h2", {}, "Deliveries"), deliveries];
  }, {
    label: "Loading your plugins",
    isEmpty: (data) => data.installs.length === 0,
    empty: () => emptyState("Install a plugin first: webhooks come from installed plugins.", h("a", { href: "#/", class: "button primary" }, "Browse the catalog")),
  });
  return () => clearTimeout(timer);
}
