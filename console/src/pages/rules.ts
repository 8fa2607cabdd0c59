// Rules: the hub's rules, builtin (the default pack) and managed (packs), enable/disable, upload
// a rule pack (YAML), reload.
import { api, canOperate, get, isAdmin, query } from "../api";
import { clear, field, h, notice, sevBadge } from "../dom";
import { failure, table } from "./common";

interface Rule {
  id: string;
  name?: string;
  severity?: string;
  enabled?: boolean;
  pack?: string;
  file?: string;
  kind?: string;
  source?: string;
  mitre?: string[];
  data_types?: number[];
}

export function rulesPage(root: HTMLElement): void {
  const listBox = h("div");
  const msg = h("div");
  const filter = h("input", { type: "search", placeholder: "filter rules" });
  const source = h(
    "select",
    { name: "source" },
    h("option", { value: "" }, "any"),
    ["builtin", "managed"].map((v) => h("option", { value: v }, v)),
  );
  let rules: Rule[] = [];
  const draw = () => {
    const f = filter.value.trim().toLowerCase();
    const shown = rules.filter((r) => !f || r.id.toLowerCase().includes(f) || (r.name ?? "").toLowerCase().includes(f));
    clear(
      listBox,
      table(shown, [
        ["Rule", (r) => h("span", null, h("b", null, r.name ?? r.id), h("br"), h("span", { class: "mono small muted" }, r.id))],
        ["Severity", (r) => (r.severity ? sevBadge(r.severity) : "")],
        ["Source", (r) => r.source ?? ""],
        ["Pack", (r) => r.pack ?? (r.file ? r.file.replace(/^.*\//, "") : r.kind ?? "")],
        ["MITRE", (r) => (r.mitre ?? []).join(" ")],
        [
          "Enabled",
          (r) =>
            h("input", {
              type: "checkbox",
              checked: r.enabled !== false,
              disabled: !canOperate(),
              "aria-label": `enable ${r.id}`,
              onchange: async (ev: Event) => {
                const box = ev.target as HTMLInputElement;
                try {
                  await api("PATCH", `/api/v1/rules/${encodeURIComponent(r.id)}`, { enabled: box.checked });
                  r.enabled = box.checked;
                } catch (e) {
                  box.checked = !box.checked;
                  clear(msg, failure(e, "Rules"));
                }
              },
            }),
        ],
      ], "No rules."),
    );
  };
  const load = () =>
    get<{ items: Rule[] }>("/api/v1/rules" + query({ limit: 1000, source: source.value }))
      .then((d) => {
        rules = d.items ?? [];
        draw();
      })
      .catch((e) => clear(listBox, failure(e, "Rules")));
  filter.addEventListener("input", draw);
  source.addEventListener("change", () => load());

  const file = h("input", { type: "file", accept: ".yaml,.yml,text/yaml" });
  const upload = h(
    "form",
    {
      class: "inline",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        const f = file.files?.[0];
        if (!f) {
          clear(msg, notice("Choose a YAML rule pack."));
          return;
        }
        try {
          const name = f.name.replace(/\.ya?ml$/i, "");
          await api("POST", "/api/v1/rules/packs" + query({ name }), await f.text());
          clear(msg, notice(`Pack ${name} uploaded.`, "info"));
          load();
        } catch (e) {
          clear(msg, failure(e, "Rule packs"));
        }
      },
    },
    field("Rule pack", file),
    h("button", { class: "btn", type: "submit", disabled: !isAdmin() }, "Upload"),
  );
  const reload = h(
    "button",
    {
      class: "btn",
      disabled: !canOperate(),
      onclick: async () => {
        try {
          await api("POST", "/api/v1/rules/reload");
          clear(msg, notice("Rules reloaded.", "info"));
          load();
        } catch (e) {
          clear(msg, failure(e, "Rule reload"));
        }
      },
    },
    "Reload rules",
  );
  clear(root, h("h1", null, "Rules"), h("div", { class: "card actions" }, upload, reload), msg, h("div", { class: "inline" }, field("Filter", filter), field("Source", source)), listBox);
  load();
}
