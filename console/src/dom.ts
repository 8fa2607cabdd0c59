// Small DOM helpers: element construction, formatting of times and sizes, the empty/error states
// every page shares.

type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined | EventListener;
export type Attrs = Record<string, AttrValue>;

// h("a", {href: "/x", onclick: fn, class: "btn"}, "text", child...): attributes starting with
// "on" are listeners; `value`/`checked` are set as properties; false/null attributes are skipped.
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2), v as EventListener);
      } else if (k === "value" || k === "checked") {
        (el as unknown as Record<string, unknown>)[k] = v;
      } else {
        el.setAttribute(k, v === true ? "" : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Node, ...children: Child[]): void {
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
}

function pad(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

// "2026-11-27 18:03:05" in local time; "-" for 0.
export function fmtTime(ms: number | undefined | null): string {
  if (!ms) return "-";
  const d = new Date(ms);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

export function fmtAgo(ms: number | undefined | null): string {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function fmtBytes(n: number | undefined | null): string {
  if (!n) return "0";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export const SEVERITIES = ["critical", "high", "medium", "low", "info"] as const;
export const STATUSES = ["new", "confirmed", "false_positive", "resolved"] as const;

export function sevBadge(sev: string): HTMLElement {
  return h("span", { class: `badge sev-${sev}` }, sev);
}

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: `badge st-${status}` }, status.replace("_", " "));
}

export function onlineBadge(online: boolean): HTMLElement {
  return h("span", { class: `badge ${online ? "online" : "offline"}` }, online ? "online" : "offline");
}

export function notice(text: string, kind: "error" | "info" = "error"): HTMLElement {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function field(label: string, control: HTMLElement): HTMLElement {
  return h("label", { class: "field" }, h("span", null, label), control);
}

export function kv(rows: [string, Child][]): HTMLElement {
  return h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}
