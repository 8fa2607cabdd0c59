// Services: what discovery knows (centers, hubs, managers) and their load.
import { get } from "../api";
import { clear, fmtAgo, h } from "../dom";
import { failure, table } from "./common";

type Service = Record<string, any>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function servicesPage(root: HTMLElement): () => void {
  const box = h("div");
  clear(root, h("h1", null, "Services"), box);
  const load = () =>
    get<{ items?: Service[] } | Service[]>("/api/v1/services")
      .then((d) => {
        const items: Service[] = Array.isArray(d) ? d : (d.items ?? []);
        const keys = [...new Set(items.flatMap((s) => Object.keys(s)))].slice(0, 8);
        clear(
          box,
          table(
            items,
            keys.map((k) => [k.replace(/_/g, " "), (s: Service) => (/_ms$/.test(k) && typeof s[k] === "number" ? fmtAgo(s[k]) : cell(s[k]))] as [string, (s: Service) => string]),
            "No services registered.",
          ),
        );
      })
      .catch((e) => clear(box, failure(e, "Services")));
  load();
  const t = window.setInterval(load, 10000);
  return () => window.clearInterval(t);
}
