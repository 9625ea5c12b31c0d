// A hand-drawn inline SVG trend chart: bars for one series (e.g. revenue), a line for a
// second (e.g. calls) on its own scale. Accessible: role=img with a summary label, and the
// exact figures in a table under a <details> disclosure.
import { h, s } from "./dom.js";

const W = 640;
const H = 220;
const PAD = { top: 16, right: 56, bottom: 28, left: 64 };

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

/**
 * trendChart(points, {x: "day", bars: {key, label, format, floor}, line: {key, label, format, floor}, title})
 */
export function trendChart(points, { x, bars, line, title }) {
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  // ``floor``: the smallest top of an axis, so a quiet month does not show µ$ fractions
  const barMax = niceMax(Math.max(bars.floor || 1, ...points.map((p) => Number(p[bars.key]) || 0)));
  const lineMax = niceMax(Math.max(line.floor || 1, ...points.map((p) => Number(p[line.key]) || 0)));
  const n = Math.max(points.length, 1);
  const slot = innerW / n;
  const yBar = (v) => PAD.top + innerH - (innerH * v) / barMax;
  const yLine = (v) => PAD.top + innerH - (innerH * v) / lineMax;

  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = PAD.top + innerH - innerH * f;
    return s("g", { class: "grid" },
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }),
      s("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "axis bars-axis" }, bars.format(barMax * f)),
      s("text", { x: W - PAD.right + 6, y: y + 4, "text-anchor": "start", class: "axis line-axis" }, line.format(Math.round(lineMax * f))));
  });

  const barEls = points.map((p, i) => {
    const v = Number(p[bars.key]) || 0;
    const y = yBar(v);
    return s("rect", { class: "bar", x: PAD.left + i * slot + slot * 0.15, y, width: Math.max(slot * 0.7, 1), height: PAD.top + innerH - y },
      s("title", {}, `${p[x]}: ${bars.label} ${bars.format(v)}`));
  });

  const coords = points.map((p, i) => `${(PAD.left + i * slot + slot / 2).toFixed(1)},${yLine(Number(p[line.key]) || 0).toFixed(1)}`);
  const lineEl = coords.length ? s("polyline", { class: "line", points: coords.join(" "), fill: "none" }) : null;
  const dots = points.map((p, i) => s("circle", { class: "dot", cx: PAD.left + i * slot + slot / 2, cy: yLine(Number(p[line.key]) || 0), r: 2.5 },
    s("title", {}, `${p[x]}: ${line.label} ${line.format(Number(p[line.key]) || 0)}`)));

  const labelEvery = Math.max(1, Math.ceil(n / 6));
  const xLabels = points.map((p, i) => (i % labelEvery === 0
    ? s("text", { x: PAD.left + i * slot + slot / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, String(p[x]).slice(5))
    : null));

  const totalBars = points.reduce((sum, p) => sum + (Number(p[bars.key]) || 0), 0);
  const totalLine = points.reduce((sum, p) => sum + (Number(p[line.key]) || 0), 0);
  const summary = `${title}: ${points.length} days, ${bars.label} ${bars.format(totalBars)} in total, ${line.label} ${line.format(totalLine)} in total.`;

  const svgEl = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": summary, preserveAspectRatio: "xMidYMid meet" },
    s("title", {}, summary), ...grid, ...barEls, lineEl, ...dots, ...xLabels);

  const legend = h("p", { class: "legend" },
    h("span", { class: "key bars-key", "aria-hidden": "true" }), `${bars.label} (left axis) `,
    h("span", { class: "key line-key", "aria-hidden": "true" }), `${line.label} (right axis)`);

  const table = h("details", { class: "chart-data" },
    h("summary", {}, "Show the figures"),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, bars.label), h("th", { scope: "col" }, line.label))),
      h("tbody", {}, points.map((p) => h("tr", {}, h("td", {}, p[x]), h("td", {}, bars.format(Number(p[bars.key]) || 0)), h("td", {}, line.format(Number(p[line.key]) || 0))))))));

  return h("figure", { class: "chart-figure" }, svgEl, h("figcaption", {}, legend), table);
}
