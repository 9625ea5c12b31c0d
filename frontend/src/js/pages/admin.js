// Admin: the review queue (approve / reject with the checks' results), users (search by e-mail,
// disable / re-enable, revoke keys, change role), suspending and reinstating plugins, and the audit log.
import { api, enc, session } from "../api.js";
import { actionButton, announce, confirmDialog, field, formError, h, load, mount, uid } from "../dom.js";
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
      const result = await api.post(`/admin/plugins/${enc(v.plugin)}/versions/${enc(v.version)}/${verb}`, verb === "approve" ? (text ? { notes: text } : {}) : { reason: text });
      const deployed = (result && result.submission && result.submission.status) || "approved";
      const outcome = verb !== "approve" ? "rejected"
        : deployed === "live" ? "approved and live"
        : deployed === "deploy_failed" ? "approved, but its deployment failed (see the submission)"
        : "approved: deploying, published once it is live";
      announce(`${v.plugin} ${v.version} ${outcome}.`, deployed === "deploy_failed" ? "error" : "success");
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

const ROLES = ["user", "developer", "admin"];

function askReason(title, body, confirm, { required = false } = {}) {
  const id = uid("reason");
  const input = h("input", { type: "text", id, maxlength: 500, minlength: required ? 3 : null, required, autocomplete: "off" });
  const content = h("div", {}, h("p", {}, body), h("div", { class: "field" }, h("label", { for: id }, "Reason for the audit log"), input));
  return confirmDialog({ title, body: content, confirm, danger: true }).then((ok) => (ok ? input.value.trim() : null));
}

function usersSection(onChange) {
  const me = (session() || { user: {} }).user.user_id;
  const prefix = h("input", { type: "search", id: "user-search", autocomplete: "off", placeholder: "e.g. jo or jo@example.com" });
  const results = h("div", { id: "users-results" });
  const more = h("div", {});
  let rows = [];
  let cursor = null;

  const act = async (label, request, done) => {
    try {
      const result = await request();
      announce(done(result), "success");
      onChange();
      return result;
    } catch (error) {
      announce(`${label}: ${error.message}`, "error");
      return null;
    }
  };
  const replace = (updated) => {
    rows = rows.map((u) => (u.user_id === updated.user_id ? { ...u, ...updated } : u));
    draw();
  };

  const actions = (u) => {
    const own = u.user_id === me;
    const role = h("select", { "aria-label": `Role of ${u.email}` }, ROLES.map((r) => h("option", { value: r, selected: r === u.role }, r)));
    return [
      u.status === "active"
        ? (own ? null : actionButton("Disable", async () => {
          const reason = await askReason(`Disable ${u.email}?`, "Their API keys and sessions stop working at once; sessions stay ended after re-enabling.", "Disable", { required: true });
          if (reason === null) return;
          if (reason.length < 3) { announce("Give a reason of at least 3 characters.", "error"); return; }
          const result = await act("Disable", () => api.post(`/admin/users/${enc(u.user_id)}/disable`, { reason }), (r) => `${r.email} is disabled.`);
          if (result) replace(result);
        }, { class: "danger small", "aria-label": `Disable ${u.email}` }))
        : actionButton("Enable", async () => {
          const result = await act("Enable", () => api.post(`/admin/users/${enc(u.user_id)}/enable`, {}), (r) => `${r.email} is enabled again.`);
          if (result) replace(result);
        }, { class: "secondary small", "aria-label": `Enable ${u.email}` }),
      actionButton("Revoke keys", async () => {
        const reason = await askReason(`Revoke every API key of ${u.email}?`, "Calls with them are refused at once. This cannot be undone.", "Revoke keys");
        if (reason === null) return;
        await act("Revoke keys", () => api.post(`/admin/users/${enc(u.user_id)}/revoke-keys`, reason.length >= 3 ? { reason } : {}),
          (r) => `${r.revoked.length} key${r.revoked.length === 1 ? "" : "s"} of ${u.email} revoked.`);
      }, { class: "danger small", "aria-label": `Revoke the keys of ${u.email}` }),
      own ? h("span", { class: "muted small" }, "(you)") : h("span", { class: "inline-field" }, role,
        actionButton("Change role", async () => {
          const result = await act("Change role", () => api.put(`/admin/users/${enc(u.user_id)}/role`, { role: role.value }), (r) => `${r.email} is now ${r.role}.`);
          if (result) replace(result);
        }, { class: "secondary small", "aria-label": `Change the role of ${u.email}` })),
    ];
  };

  function draw() {
    if (!rows.length) {
      mount(results, h("div", { class: "state empty" }, h("p", {}, "No user matches.")));
      mount(more);
      return;
    }
    mount(results, h("div", { class: "table-wrap" }, h("table", { id: "users-table" },
      h("caption", { class: "sr-only" }, "Users"),
      h("thead", {}, h("tr", {}, ["E-mail", "Role", "Status", "Created", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((u) => h("tr", { dataset: { user: u.user_id, email: u.email } },
        h("td", {}, u.email), h("td", { dataset: { cell: "role" } }, u.role),
        h("td", { dataset: { cell: "status" } }, h("span", { class: `badge ${u.status === "active" ? "ok" : "off"}`, title: u.disabled_reason || "" }, u.status)),
        h("td", {}, dateTime(u.created_at)),
        h("td", { class: "row-actions" }, actions(u))))))));
    mount(more, cursor ? actionButton("Load more users", () => page(false), { class: "secondary" }) : null);
  }

  async function page(first) {
    const query = { email: prefix.value.trim(), limit: 25, cursor: first ? null : cursor };
    if (first) {
      const data = await load(results, () => api.get("/admin/users", query), () => h("div", {}), { label: "Loading users" });
      if (!data) return;
      rows = data.users;
      cursor = data.next_cursor;
    } else {
      try {
        const data = await api.get("/admin/users", query);
        rows = rows.concat(data.users);
        cursor = data.next_cursor;
      } catch (error) {
        announce(error.message, "error");
        return;
      }
    }
    draw();
  }

  const search = h("form", { class: "filters", role: "search", "aria-label": "Search users" },
    h("div", { class: "field search-field" }, h("label", { for: "user-search" }, "E-mail starts with"), prefix),
    h("div", { class: "field submit-field" }, h("button", { type: "submit", class: "secondary" }, "Search users")));
  search.addEventListener("submit", (e) => { e.preventDefault(); page(true); });
  return { element: h("div", {}, search, results, more), start: () => page(true) };
}

export async function render(container) {
  const queue = h("div", {});
  const suspensions = h("div", {});
  const audit = h("div", {});
  const month = h("input", { type: "month", id: "audit-month", value: currentMonth() });
  const actor = h("input", { type: "text", id: "audit-actor", placeholder: "user id or system" });
  const target = h("input", { type: "text", id: "audit-target", placeholder: "e.g. name=echo" });

  const users = usersSection(() => refreshAudit());

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
    h("section", { class: "card admin-section", "aria-labelledby": "users-title" }, h("h2", { id: "users-title" }, "Users"),
      h("p", { class: "muted" }, "Every change here is in the audit log. A disabled user's keys and sessions stop working."), users.element),
    h("section", { class: "card admin-section", "aria-labelledby": "susp-title" }, h("h2", { id: "susp-title" }, "Suspended plugins"),
      h("p", { class: "muted" }, "A suspended plugin is unlisted and its calls are refused."), suspensions, h("h3", {}, "Suspend or reinstate"), suspendForm(() => { refreshSuspended(); refreshAudit(); })),
    h("section", { class: "card admin-section", "aria-labelledby": "audit-title" }, h("h2", { id: "audit-title" }, "Audit log"), auditFilters, audit));
  await Promise.all([refreshQueue(), refreshSuspended(), refreshAudit(), users.start()]);
}
