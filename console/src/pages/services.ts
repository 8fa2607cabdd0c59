// Services: what discovery knows (discovery replicas, centers, hubs, managers), their health and
// load; refreshed every 10 s.
import { get } from "../api";
import { clear, fmtAgo, h, notice } from "../dom";
import { failure, table } from "./common";

type Service = Record<string, any>;

// Rates (null until the second look at a service) with one decimal, durations (lag_ms) in ms,
// times (…_at_ms, last_…_ms) as "ago".
function cell(k: string, v: unknown): Node | string {
  if (v === null || v === undefined) return "";
  if (k === "healthy") return h("span", { class: `badge ${v ? "online" : "offline"}` }, v ? "healthy" : "down");
  if (typeof v === "number") {
    if (/_per_s$/.test(k)) return v.toFixed(1);
    if (/(_at_ms|^last_.*_ms)$/.test(k)) return fmtAgo(v);
    if (/_ms$/.test(k)) return `${v} ms`;
  }
  if (typeof v === "object") return h("span", { class: "mono small" }, JSON.stringify(v));
  return String(v);
}

function section(title: string, items: Service[]): HTMLElement {
  const keys = [...new Set(items.flatMap((s) => Object.keys(s)))].slice(0, 9);
  return h(
    "section",
    { class: "card" },
    h("h2", null, `${title[0].toUpperCase()}${title.slice(1)} (${items.length})`),
    table(items, keys.map((k) => [k.replace(/_/g, " "), (s: Service) => cell(k, s[k])] as [string, (s: Service) => Node | string]), "None registered."),
  );
}

// The cluster top-down: discovery first, then what it lists.
const ORDER = ["discovery", "centers", "hubs", "managers"];
const order = (k: string) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);

export function servicesPage(root: HTMLElement): () => void {
  const box = h("div");
  clear(root, h("h1", null, "Services"), box);
  const load = () =>
    get<Record<string, any>>("/api/v1/services")
      .then((d) => {
        const lists = Array.isArray(d) ? { services: d } : Array.isArray(d.items) ? { services: d.items } : d;
        clear(
          box,
          typeof lists.error === "string" ? notice(lists.error) : null,
          Object.entries(lists)
            .filter(([, v]) => Array.isArray(v))
            .sort(([a], [b]) => order(a) - order(b))
            .map(([k, v]) => section(k, v as Service[])),
        );
      })
      .catch((e) => clear(box, failure(e, "Services")));
  load();
  const t = window.setInterval(load, 10000);
  return () => window.clearInterval(t);
}
