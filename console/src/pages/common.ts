// Pieces shared by the pages over routes that may be missing on an older manager.
import { ApiError } from "../api";
import { h, notice } from "../dom";

export function failure(e: unknown, what: string): HTMLElement {
  const err = e as ApiError;
  if (err.status === 404 && /no such path/.test(err.message)) return notice(`${what} are not available on this manager.`, "info");
  if (err.status === 503) return notice(`${what} are unavailable right now: ${err.message}`);
  return notice(err.message ?? String(e));
}

// A table of objects with the given columns; a column is a key or [title, render].
export function table<T>(items: T[], columns: [string, (x: T) => Node | string][], empty = "Nothing here."): HTMLElement {
  if (!items.length) return h("p", { class: "muted" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "list" },
      h("thead", null, h("tr", null, columns.map(([t]) => h("th", null, t)))),
      h("tbody", null, items.map((x) => h("tr", null, columns.map(([, f]) => h("td", null, f(x)))))),
    ),
  );
}
