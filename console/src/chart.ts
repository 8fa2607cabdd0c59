// Alerts by severity over time: stacked bars drawn as SVG (no chart library), scaled to the
// container's width by the viewBox.
import { SEVERITIES } from "./dom";

const NS = "http://www.w3.org/2000/svg";

export interface Bucket {
  start_ms: number;
  counts: Record<string, number>;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function severityChart(buckets: Bucket[]): SVGSVGElement {
  const W = 720;
  const H = 220;
  const left = 36;
  const bottom = 22;
  const top = 8;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  root.setAttribute("aria-label", "alerts by severity over time");
  const totals = buckets.map((b) => SEVERITIES.reduce((n, s) => n + (b.counts[s] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const plotH = H - bottom - top;
  const step = (W - left) / Math.max(1, buckets.length);
  const barW = Math.max(1, step * 0.75);
  for (const frac of [0, 0.5, 1]) {
    const y = top + plotH * (1 - frac);
    root.appendChild(svg("line", { x1: left, x2: W, y1: y, y2: y, class: "grid" }));
    const label = svg("text", { x: left - 4, y: y + 4, class: "axis", "text-anchor": "end" });
    label.textContent = String(Math.round(max * frac));
    root.appendChild(label);
  }
  buckets.forEach((b, i) => {
    let y = top + plotH;
    const x = left + i * step + (step - barW) / 2;
    for (const sev of [...SEVERITIES].reverse()) {
      const n = b.counts[sev] ?? 0;
      if (!n) continue;
      const hgt = (n / max) * plotH;
      y -= hgt;
      const r = svg("rect", { x, y, width: barW, height: Math.max(hgt, 0.5), class: `bar sev-${sev}` });
      const title = svg("title", {});
      title.textContent = `${new Date(b.start_ms).toLocaleString()}: ${n} ${sev}`;
      r.appendChild(title);
      root.appendChild(r);
    }
    const every = Math.max(1, Math.ceil(buckets.length / 6));
    if (i % every === 0) {
      const t = svg("text", { x: x + barW / 2, y: H - 6, class: "axis", "text-anchor": "middle" });
      const d = new Date(b.start_ms);
      t.textContent = `${d.getHours()}:00`;
      root.appendChild(t);
    }
  });
  return root;
}
