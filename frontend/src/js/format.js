// Formatting of the API's integer amounts: prices and revenue in micro-dollars (µ$),
// plan prices and payouts in cents, shares in basis points. Integer arithmetic only, so a
// figure is never shown rounded to something it is not.

const groups = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

function dollars(units, scale, minDecimals) {
  const value = BigInt(Math.trunc(Number(units) || 0));
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const base = BigInt(scale);
  const whole = abs / base;
  let fraction = (abs % base).toString().padStart(String(scale).length - 1, "0").replace(/0+$/, "");
  if (fraction.length < minDecimals) fraction = fraction.padEnd(minDecimals, "0");
  return `${negative ? "-" : ""}$${groups(whole.toString())}${fraction ? `.${fraction}` : ""}`;
}

/** 1500 µ$ -> "$0.0015"; 2_000_000_000 -> "$2,000.00" */
export const micros = (value) => dollars(value, 1_000_000, 2);
/** 9900 -> "$99.00" */
export const cents = (value) => dollars(value, 100, 2);

export const number = (value) => groups(String(Math.trunc(Number(value) || 0)));

/** 1_234_567 -> "1.2M" (for cards); the exact figure goes in a title/label. */
export function compact(value) {
  const n = Number(value) || 0;
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1).replace(/\.0$/, "")}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1).replace(/\.0$/, "")}k`;
  return number(n);
}

export const percentBps = (bps) => `${(Number(bps) / 100).toString()} %`;

/** "+15 % vs last period", "no previous period" */
export function change(pct) {
  if (pct === null || pct === undefined) return "no previous period to compare";
  const n = Number(pct);
  const sign = n > 0 ? "+" : "";
  return `${sign}${Number.isInteger(n) ? n : n.toFixed(1)} % vs last period`;
}

const dateFmt = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
const dateTimeFmt = new Intl.DateTimeFormat("en-US", {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC", timeZoneName: "short",
});

export function date(value) {
  if (!value) return "—";
  const d = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isNaN(d.getTime()) ? String(value) : dateFmt.format(d);
}

export function dateTime(value) {
  if (!value) return "—";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : dateTimeFmt.format(d);
}

export function currentMonth() {
  return new Date().toISOString().slice(0, 7);
}

/** "per call $0.001 after 1,000 free calls a month" from a card's pricing. */
export function priceLine(pricing) {
  if (!pricing) return "";
  const price = Number(pricing.per_call_price_micros || 0);
  if (pricing.tier === "free" || price === 0) return "Free";
  return `${micros(price)} per call`;
}

export function freeTierLine(pricing) {
  if (!pricing || pricing.tier === "free") return "";
  const free = Number(pricing.free_tier_calls || 0);
  return free > 0 ? `${number(free)} free calls / month` : "no free tier";
}

export function planPrice(plan) {
  if (plan.kind === "free") return "Free";
  if (plan.kind === "custom") return "Contact sales";
  const price = cents(plan.price_cents || 0);
  return plan.interval ? `${price} / ${plan.interval}` : `${price} once`;
}

export function stars(average) {
  const n = Math.round(Number(average) || 0);
  return "★".repeat(n) + "☆".repeat(5 - n);
}
