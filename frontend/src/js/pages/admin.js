// Admin: the review queue (approve / reject with the checks' results), suspending and
// reinstating plugins, and the audit log.
import { api, enc } from "../api.js";
import { actionButton, announce, field, formError, h, load, mount, uid } from "../dom.js";
import { currentMonth, dateTime } from "../format.js";

function checksSummary(submission) {
  if (!submission) return null;
  const checks = submission.checks || [];
  return h("details", {}, h("summary", {}, `Checks: score ${submission.score ?? "—"} / 100, ${checks.filter((c) => c.passed).length}/${checks.length} passed`),
    h("ul", { class: "checks" }, checks.map((c) => h("li", { class: c.passed ? "pass" : "fail" },
      h("span", { class: "check-mark", "aria-hidden": "true" }, c.passed ? "✓" : "✗"),
      h("span", { class: "sr-only" }, c.passed ? "passed: " : "failed: "),
      h("strong", {}, c.name), ` ${c.points}/${c.max_points} — ${c.summary}`))));
}

function reviewItem(v, refresh) {
  const m = v.manifest || {};
  const notesId = uid("notes");
  const notes = h("textarea", { id: notesId, rows: 2, maxlength: 2000, placeholder: "Notes for the developer (required to reject)" });
  const errors = h("div", {});
  const decide = (verb) => async () => {
    mount(errors);
    const text = notes.value.trim();
    if (verb === "reject" && text.length < 3) {
      mount(errors, formError({ message: "Say why it is rejected (at least 3 characters): the developer sees it." }));
      notes.focus();
      return;
    }
    try {
      await api.post(`/admin/plugins/${enc(v.plugin)}/versions/${enc(v.version)}/${verb}`, verb === "approve" ? (text ? { notes: text } : {}) : { reason: text });
      announce(`${v.plugin} ${v.version} ${verb === "approve" ? "approved and published" : "rejected"}.`, "success");
      refresh();
    } catch (error) {
      mount(errors, formError(error));
    }
  };
  return h("li", { class: "card review-item", dataset: { plugin: v.plugin, version: v.version } },
    h("h3", {}, `${m.display_name || v.plugin} ${v.version}`, " ", h("span", { class: "badge info" }, v.status.replace(/_/g, " "))),
    h("p", { class: "muted small" }, `${v.plugin} · by ${m.author && m.author.name ? m.author.name : "unknown"} · ${m.category || ""} · submitted ${dateTime(v.submitted_at)}`),
    m.description ? h("p", {}, m.description) : null,
    h("p", { class: "small" }, `Permissions: ${(m.permissions || []).join(", ") || "none"} · ${(m.api && m.api.endpoints ? m.api.endpoints.length : 0)} endpoints · pricing ${m.pricing ? m.pricing.tier : "—"}`),
    checksSummary(v.submission),
    h("div", { class: "field" }, h("label", { for: notesId }, "Review notes"), notes),
    errors,
    h("div", { class: "card-actions" },
      actionButton("Approve", decide("approve"), { class: "primary", "aria-label": `Approve ${v.plugin} ${v.version}` }),
      actionButton("Reject", decide("reject"), { class: "danger", "aria-label": `Reject ${v.plugin} ${v.version}` })));
}

function suspendForm(refresh) {
  const name = h("input", { type: "text", name: "plugin", required: true, autocomplete: "off", placeholder: "plugin name, e.g. echo" });
  const reason = h("input", { type: "text", name: "reason", maxlength: 2000, placeholder: "why (shown to the developer)" });
  const errors = h("div", {});
  const act = (verb) => async () => {
    mount(errors);
    const plugin = name.value.trim();
    if (!/^[a-z0-9-]{3,40}$/.test(plugin)) {
      mount(errors, formError({ message: "Enter the plugin's name (lowercase letters, digits and dashes)." }));
      name.focus();
      return;
    }
    if (verb === "suspend" && reason.value.trim().length < 3) {
      mount(errors, formError({ message: "Give a reason (at least 3 characters)." }));
      reason.focus();
      return;
    }
    try {
      const result = await api.post(`/admin/plugins/${enc(plugin)}/${verb}`, verb === "suspend" ? { reason: reason.value.trim() } : {});
      announce(`${result.plugin} is ${result.status}.`, "success");
      refresh();
    } catch (error) {
      mount(errors, formError(error));
    }
  };
  return h("form", { class: "form", onSubmit: (e) => e.preventDefault() },
    h("div", { class: "row" }, field("Plugin", name), field("Reason", reason)),
    errors,
    h("div", { class: "actions" }, actionButton("Suspend", act("suspend"), { class: "danger" }), actionButton("Reinstate", act("reinstate"), { class: "secondary" })));
}

function suspensionsView(data, reinstate) {
  return h("ul", { class: "plain-list" }, data.plugins.map((p) => h("li", {},
    h("strong", {}, p.name), ` — ${p.status_reason || "no reason given"} `,
    h("span", { class: "muted small" }, `(since ${dateTime(p.updated_at)}) `),
    actionButton("Reinstate", () => reinstate(p.name), { class: "secondary", "aria-label": `Reinstate ${p.name}` }))));
}

export async function render(container) {
  const queue = h("div", {});
  const suspensions = h("div", {});
  const audit = h("div", {});
  const month = h("input", { type: "month", id: "audit-month", value: currentMonth() });
  const actor = h("input", { type: "text", id: "audit-actor", placeholder: "user id or system" });
  const target = h("input", { type: "text", id: "audit-target", placeholder: "e.g. name=echo" });

  const refreshQueue = () => load(queue, () => api.get("/admin/reviews"),
    (data) => h("ul", { class: "review-queue" }, data.versions.map((v) => reviewItem(v, () => { refreshQueue(); refreshAudit(); }))),
    { label: "Loading the review queue", isEmpty: (d) => d.versions.length === 0, empty: "The review queue is empty." });

  const refreshAudit = () => load(audit, () => api.get("/admin/audit", { month: month.value || currentMonth(), actor: actor.value.trim(), target: target.value.trim() }),
      (d) => h("div", { class: "table-wrap" }, h("table", { id: "audit-table" },
        h("caption", { class: "sr-only" }, "Audit log"),
        h("thead", {}, h("tr", {}, ["When", "Actor", "Action", "Target", "Reason", "Status"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, d.entries.map((e) => h("tr", {},
          h("td", {}, dateTime(e.at)), h("td", {}, h("code", {}, e.actor)), h("td", {}, h("code", {}, e.action)),
          h("td", {}, e.target || ""), h("td", {}, e.reason || ""),
          h("td", {}, h("span", { class: `badge ${e.status < 400 ? "ok" : "off"}` }, String(e.status)))))))),
      { label: "Loading the audit log", isEmpty: (d) => d.entries.length === 0, empty: "No admin action in this month." });

  const refreshSuspended = () => load(suspensions, () => api.get("/admin/plugins", { status: "suspended" }),
    (d) => suspensionsView(d, async (name) => {
      try {
        const result = await api.post(`/admin/plugins/${enc(name)}/reinstate`, {});
        announce(`${result.plugin} is ${result.status}.`, "success");
      } catch (error) {
        announce(error.message, "error");
      }
      refreshSuspended(); refreshAudit();
    }),
    { label: "Loading suspended plugins", isEmpty: (d) => d.plugins.length === 0,
      empty: "No plugin is suspended (by an admin or by the hourly error-rate check)." });

  const auditFilters = h("form", { class: "filters", "aria-label": "Filter the audit log" },
    h("div", { class: "field" }, h("label", { for: "audit-month" }, "Month"), month),
    h("div", { class: "field" }, h("label", { for: "audit-actor" }, "Actor"), actor),
    h("div", { class: "field" }, h("label", { for: "audit-target" }, "Target"), target),
    h("div", { class: "field submit-field" }, h("button", { type: "submit", class: "secondary" }, "Filter")));
  auditFilters.addEventListener("submit", (e) => { e.preventDefault(); refreshAudit(); });

  mount(container,
    h("h1", {}, "Admin"),
    h("section", { class: "admin-section", "aria-labelledby": "queue-title" }, h("h2", { id: "queue-title" }, "Review queue"),
      h("p", { class: "muted" }, "Versions whose automated checks passed. Approving deploys and publishes them."), queue),
    h("section", { class: "card admin-section", "aria-labelledby": "susp-title" }, h("h2", { id: "susp-title" }, "Suspended plugins"),
      h("p", { class: "muted" }, "A suspended plugin is unlisted and its calls are refused."), suspensions, h("h3", {}, "Suspend or reinstate"), suspendForm(() => { refreshSuspended(); refreshAudit(); })),
    h("section", { class: "card admin-section", "aria-labelledby": "audit-title" }, h("h2", { id: "audit-title" }, "Audit log"), auditFilters, audit));
  await Promise.all([refreshQueue(), refreshSuspended(), refreshAudit()]);
}
