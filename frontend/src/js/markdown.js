// Safe Markdown for plugin READMEs: a README is written by a third-party developer, so it is
// rendered to DOM nodes built with h() (text nodes and attributes only): raw HTML is shown as
// text, never parsed; links keep only http(s) and mailto targets (no javascript:, data:,
// relative or other schemes: the text stays, the link goes), open in a new tab without an
// opener, and images are shown as their alt text, never fetched.
// Covered: ATX headings, paragraphs, blank-line and fenced code blocks, lists (one level),
// block quotes, pipe tables, horizontal rules, inline code, **bold**, *italic*, [links](url);
// underscores inside a word (snake_case_names) are not emphasis, as in CommonMark.
import { h } from "./dom.js";

const SAFE_LINK = /^(https?:\/\/|mailto:)/i;
const FENCE = /^\s*(```|~~~)/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const ORDERED = /^\s*\d+[.)]\s+(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

/** The URL a README link may point at, or null (dropped: the text stays, the link goes). */
export function safeHref(raw) {
  const url = String(raw || "").trim();
  if (!SAFE_LINK.test(url)) return null;
  // Scheme-like prefixes smuggled past the test ("#" never is, "https://" always is).
  if (/[\u0000-\u001f\u007f]/.test(url)) return null;
  return url;
}

/** Inline Markdown of one line of text: code spans, bold, italic, links. */
export function inline(text) {
  const out = [];
  const pattern = /!\[([^\]]*)\]\([^)]*\)|(`+)([\s\S]*?)\2|\*\*([^*]+)\*\*|(?<!\w)__([^_]+)__(?!\w)|\*([^*\s][^*]*)\*|(?<!\w)_([^_\s][^_]*)_(?!\w)|\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)|<(https?:\/\/[^>\s]+)>/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    if (match.index > last) out.push(text.slice(last, match.index));
    if (match[1] !== undefined) out.push(match[1]);  // an image: its alt text only
    else if (match[2]) out.push(h("code", {}, match[3]));
    else if (match[4] || match[5]) out.push(h("strong", {}, inline(match[4] || match[5])));
    else if (match[6] || match[7]) out.push(h("em", {}, inline(match[6] || match[7])));
    else if (match[8]) {
      const href = safeHref(match[9]);
      out.push(href ? h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" }, inline(match[8]))
        : h("span", {}, inline(match[8])));
    } else if (match[10]) {
      out.push(h("a", { href: match[10], rel: "noopener noreferrer nofollow", target: "_blank" }, match[10]));
    }
    last = pattern.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

/** A README as a list of DOM nodes (headings start at h3: the page has its own h1 and h2). */
export function renderMarkdown(source) {
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    if (FENCE.test(line)) {
      const fence = line.trim().slice(0, 3);
      const language = line.trim().slice(3).trim();
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) { body.push(lines[i]); i += 1; }
      i += 1;
      blocks.push(h("pre", { class: "code-block" }, h("code", { "data-language": language || null }, body.join("\n"))));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = Math.min(6, heading[1].length + 2);
      blocks.push(h(`h${level}`, { class: "md-heading" }, inline(heading[2])));
      i += 1;
      continue;
    }
    if (RULE.test(line)) { blocks.push(h("hr", {})); i += 1; continue; }
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1])) {
      const head = cells(line);
      const rows = [];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) { rows.push(cells(lines[i])); i += 1; }
      blocks.push(h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, inline(c))))),
        h("tbody", {}, rows.map((r) => h("tr", {}, head.map((_, n) => h("td", {}, inline(r[n] || "")))))))));
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) { quoted.push(lines[i].replace(/^\s*>\s?/, "")); i += 1; }
      blocks.push(h("blockquote", {}, renderMarkdown(quoted.join("\n"))));
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = !BULLET.test(line);
      const items = [];
      while (i < lines.length && lines[i].trim()) {
        const item = (ordered ? ORDERED : BULLET).exec(lines[i]);
        if (item) items.push([item[1]]);
        else if (items.length && /^\s+\S/.test(lines[i])) items[items.length - 1].push(lines[i].trim());
        else break;
        i += 1;
      }
      blocks.push(h(ordered ? "ol" : "ul", { class: "md-list" }, items.map((parts) => h("li", {}, inline(parts.join(" "))))));
      continue;
    }
    if (/^( {4}|\t)/.test(line)) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || !lines[i].trim())) { body.push(lines[i].replace(/^( {4}|\t)/, "")); i += 1; }
      blocks.push(h("pre", { class: "code-block" }, h("code", {}, body.join("\n").replace(/\n+$/, ""))));
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i])
      && !BULLET.test(lines[i]) && !ORDERED.test(lines[i]) && !/^\s*>/.test(lines[i])) {
      paragraph.push(lines[i].trim());
      i += 1;
    }
    blocks.push(h("p", {}, inline(paragraph.join(" "))));
  }
  return blocks;
}
