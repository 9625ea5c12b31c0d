// Developer dashboard (seeds 000 and 001): this period's revenue and calls with the change
// against the last period, the next payout, a 30-day revenue/calls trend, the plugins table,
// payouts history, and submissions with their check results.
import { api } from "../api.js";
import { emptyState, h, load, mount } from "../dom.js";
import { cents, change, compact, date, dateTime, micros, number, percentBps, stars } from "../format.js";
import { trendChart } from "../chart.js";

function statCard(title, value, sub, { id, exact } = {}) {
  return h("div", { class: "card stat", id },
    h("h2", { class: "stat-title" }, title),
    h("p", { class: "big-number", title: exact || null }, value),
    h("p", { class: "muted small" }, sub));
}

function changeClass(pct) {
  if (pct === null || pct === undefined) return "";
  return Number(pct) >= 0 ? "up" : "down";
}

function pluginsTable(earnings, mine) {
  const meta = Object.fromEntries((mine.plugins || []).map((p) => [p.name, p]));
  if (!earnings.plugins.length) return emptyState("You have no plugin yet: publish one with `mocklib plugin publish`.");
  return h("div", { class: "table-wrap" }, h("table", { id: "plugins-table" },
    h("caption", { class: "sr-only" }, "Your plugins this period"),
    h("thead", {}, h("tr", {}, ["Plugin", "Status", "Installs", "Calls (period)", "Revenue (period)", "Your share", "Rating", "Lifetime revenue"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, earnings.plugins.map((p) => {
      const m = meta[p.plugin] || {};
      const rating = m.rating || { average: 0, count: 0 };
      return h("tr", { dataset: { plugin: p.plugin } },
        h("th", { scope: "row" }, m.status === "active" ? h("a", { href: `#/plugins/${p.plugin}` }, m.display_name || p.plugin) : (m.display_name || p.plugin)),
        h("td", {}, h("span", { class: `badge ${p.status === "active" ? "ok" : "warn"}`, title: m.status_reason || null }, p.status)),
        h("td", {}, number(m.install_count || 0)),
        h("td", {}, number(p.calls)),
        h("td", {}, micros(p.revenue_micros)),
        h("td", {}, `${micros(p.share_micros)} (${percentBps(p.share_bps)})`),
        h("td", {}, h("span", { "aria-hidden": "true" }, stars(rating.average)), ` ${rating.average.toFixed(1)} (${number(rating.count)})`),
        h("td", {}, micros(p.lifetime_revenue_micros)));
    }))));
}

function payoutsTable(payouts) {
  if (!payouts || !payouts.length) return emptyState("No payout yet. Payouts close on the 1st and the 15th (UTC); below $50 the balance rolls over.");
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, "Payouts history"),
    h("thead", {}, h("tr", {}, ["Period", "Amount", "Status", "Rail", "Paid", "Note"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, payouts.map((p) => h("tr", {},
      h("td", {}, date(p.period)), h("td", {}, cents(p.amount_cents)),
      h("td", {}, h("span", { class: `badge ${p.status === "paid" ? "ok" : "info"}` }, p.status)),
      h("td", {}, p.rail || "—"), h("td", {}, p.paid_at ? date(p.paid_at) : "—"),
      h("td", {}, p.reason || p.last_error || p.reference || ""))))));
}

function checksList(checks) {
  return h("ul", { class: "checks" }, checks.map((c) => h("li", { class: c.passed ? "pass" : "fail" },
    h("span", { class: "check-mark", "aria-hidden": "true" }, c.passed ? "✓" : "✗"),
    h("span", { class: "sr-only" }, c.passed ? "passed: " : "failed: "),
    h("strong", {}, c.name), ` ${c.points}/${c.max_points} — ${c.summary}${c.blocking ? "" : " (not blocking)"}`)));
}

// After approval a version is deployed (its own function in AWS) and goes live only when that
// function runs: "deploying" is not live yet, "deploy_failed" says why and users keep the old one.
const SUBMISSION_BADGES = {
  in_review: "info", approved: "info", deploying: "warn", live: "ok", superseded: "info",
  checks_failed: "off", rejected: "off", deploy_failed: "off", undeploying: "warn", undeployed: "off",
};
const SUBMISSION_NOTES = {
  approved: "Approved: its deployment is starting.",
  deploying: "Approved: its function is being deployed; it goes live when the deployment finishes.",
  live: "Live in the marketplace: approved in review and deployed.",
  superseded: "A newer version of the same major line runs in its place.",
  deploy_failed: "Approved, but its deployment failed: users keep the version they had. Fix it and submit the same version again.",
  undeploying: "Its function is being removed.",
  undeployed: "Its function was removed by an admin.",
};

function deploymentNote(sub) {
  const note = SUBMISSION_NOTES[sub.status];
  if (!note) return null;
  const reason = sub.deployment && sub.deployment.reason && ["deploy_failed", "undeployed"].includes(sub.status) ? sub.deployment.reason : null;
  return h("p", { class: "deployment muted small" }, note, reason ? h("span", { class: "reason" }, ` Reason: ${reason}`) : null);
}

export function submissionsList(submissions) {
  if (!submissions.length) return emptyState("No submissions yet. `mocklib plugin publish` sends one.");
  return h("ul", { class: "submissions" }, submissions.map((sub) => {
    const badge = SUBMISSION_BADGES[sub.status] || "info";
    return h("li", { class: "card submission", dataset: { submission: sub.submission_id, status: sub.status } },
      h("p", {}, h("strong", {}, `${sub.plugin} ${sub.version}`), " ", h("span", { class: `badge ${badge}` }, sub.status.replace(/_/g, " ")),
        " ", h("span", { class: "muted small" }, `score ${sub.score ?? "—"} / 100 (pass ${sub.min_score}) · ${dateTime(sub.created_at)}`)),
      deploymentNote(sub),
      sub.reasons && sub.reasons.length ? h("ul", { class: "reasons" }, sub.reasons.map((r) => h("li", {}, r))) : null,
      sub.review_notes ? h("p", { class: "muted" }, `Reviewer: ${sub.review_notes}`) : null,
      sub.checks && sub.checks.length ? h("details", {}, h("summary", {}, `Check results (${sub.checks.filter((c) => c.passed).length}/${sub.checks.length} passed)`), checksList(sub.checks)) : null);
  }));
}

export async function render(container) {
  const body = h("div", {});
  mount(container, h("h1", {}, "Developer dashboard"), body);
  await load(body, async () => {
    const [earnings, mine, submissions] = await Promise.all([
      api.get("/developer/earnings"), api.get("/developer/plugins"), api.get("/developer/submissions"),
    ]);
    return { earnings, mine, submissions };
  }, ({ earnings, mine, submissions }) => {
    const period = earnings.current_period;
    const revenueCard = statCard("Revenue this period", micros(period.revenue_micros), change(period.revenue_change_pct), { id: "stat-revenue", exact: `${number(period.revenue_micros)} µ$` });
    if (changeClass(period.revenue_change_pct)) revenueCard.querySelector(".muted").classList.add(changeClass(period.revenue_change_pct));
    const callsCard = statCard("API calls this period", compact(period.calls), change(period.calls_change_pct), { id: "stat-calls", exact: number(period.calls) });
    if (changeClass(period.calls_change_pct)) callsCard.querySelector(".muted").classList.add(changeClass(period.calls_change_pct));
    return [
      h("p", { class: "lead" }, `Current period: ${date(period.period)} – ${date(period.ends)} (UTC), payouts close on the 1st and the 15th.`),
      h("div", { class: "stat-grid" },
        revenueCard,
        statCard("Your share", micros(period.share_micros), "after the platform's share", { id: "stat-share" }),
        statCard("Next payout", cents(earnings.projected_payout_cents), `on ${date(earnings.next_payout_date)} (balance + this period's share; below $50 rolls over)`, { id: "stat-payout" }),
        callsCard),
      h("section", { class: "card", "aria-labelledby": "trend-title" },
        h("h2", { id: "trend-title" }, "Revenue and calls, last 30 days"),
        earnings.trend && earnings.trend.length
          ? trendChart(earnings.trend, {
            x: "day", title: "Revenue and calls",
            bars: { key: "revenue_micros", label: "Revenue", format: (v) => micros(Math.round(v)), floor: 40_000 },
            line: { key: "calls", label: "Calls", format: (v) => compact(v), floor: 40 },
          })
          : emptyState("No traffic in the last 30 days.")),
      h("section", { class: "card", "aria-labelledby": "plugins-title" }, h("h2", { id: "plugins-title" }, "Your plugins"), pluginsTable(earnings, mine)),
      h("section", { class: "card", "aria-labelledby": "lifetime-title" }, h("h2", { id: "lifetime-title" }, "Lifetime"),
        h("dl", { class: "metrics" },
          h("div", { class: "metric" }, h("dt", {}, "Calls"), h("dd", {}, number(earnings.lifetime.calls))),
          h("div", { class: "metric" }, h("dt", {}, "Revenue"), h("dd", {}, micros(earnings.lifetime.revenue_micros))),
          h("div", { class: "metric" }, h("dt", {}, "Earned"), h("dd", {}, micros(earnings.lifetime.earned_micros))),
          h("div", { class: "metric" }, h("dt", {}, "Paid out"), h("dd", {}, cents(earnings.lifetime.paid_cents))),
          h("div", { class: "metric" }, h("dt", {}, "Active users"), h("dd", {}, number(earnings.lifetime.users))))),
      h("section", { class: "card", "aria-labelledby": "payouts-title" }, h("h2", { id: "payouts-title" }, "Payouts"), payoutsTable(earnings.payouts)),
      h("section", { class: "card", "aria-labelledby": "subs-title" }, h("h2", { id: "subs-title" }, "Submissions"), submissionsList(submissions.submissions)),
    ];
  }, { label: "Loading your earnings" });
}
