// Users (admin): create, change role, disable, delete.
import { api, currentSession, get } from "../api";
import { clear, field, fmtTime, h, notice } from "../dom";
import { failure, table } from "./common";

interface User {
  username: string;
  role: string;
  disabled: boolean;
  created_at_ms: number;
}

const ROLES = ["admin", "operator", "read_only"];

export function usersPage(root: HTMLElement): void {
  const listBox = h("div");
  const msg = h("div");
  const act = async (fn: () => Promise<unknown>) => {
    clear(msg);
    try {
      await fn();
    } catch (e) {
      clear(msg, failure(e, "Users"));
    }
    load();
  };
  const load = () =>
    get<{ items: User[] }>("/api/v1/users?limit=1000")
      .then((d) =>
        clear(
          listBox,
          table(d.items, [
            ["User", (u) => h("b", null, u.username)],
            [
              "Role",
              (u) => {
                const s = h("select", { "aria-label": `role of ${u.username}` }, ROLES.map((r) => h("option", { value: r }, r)));
                s.value = u.role;
                s.addEventListener("change", () => act(() => api("PATCH", `/api/v1/users/${encodeURIComponent(u.username)}`, { role: s.value })));
                return s;
              },
            ],
            ["State", (u) => h("span", { class: `badge ${u.disabled ? "offline" : "online"}` }, u.disabled ? "disabled" : "enabled")],
            ["Created", (u) => fmtTime(u.created_at_ms)],
            [
              "",
              (u) =>
                h(
                  "span",
                  { class: "row-actions" },
                  h("button", { class: "btn", onclick: () => act(() => api("PATCH", `/api/v1/users/${encodeURIComponent(u.username)}`, { disabled: !u.disabled })) }, u.disabled ? "Enable" : "Disable"),
                  h(
                    "button",
                    {
                      class: "btn danger",
                      disabled: u.username === currentSession()?.username,
                      onclick: () => confirm(`Delete user ${u.username}?`) && act(() => api("DELETE", `/api/v1/users/${encodeURIComponent(u.username)}`)),
                    },
                    "Delete",
                  ),
                ),
            ],
          ]),
        ),
      )
      .catch((e) => clear(listBox, failure(e, "Users")));

  const name = h("input", { name: "new-username", required: true, autocomplete: "off" });
  const pass = h("input", { name: "new-password", type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const role = h("select", { name: "new-role" }, ROLES.map((r) => h("option", { value: r }, r)));
  role.value = "read_only";
  const form = h(
    "form",
    {
      class: "card inline",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        act(async () => {
          await api("POST", "/api/v1/users", { username: name.value.trim(), password: pass.value, role: role.value });
          name.value = "";
          pass.value = "";
          clear(msg, notice("User created.", "info"));
        });
      },
    },
    field("Username", name),
    field("Password", pass),
    field("Role", role),
    h("button", { class: "btn primary", type: "submit" }, "Create user"),
  );
  clear(root, h("h1", null, "Users"), form, msg, listBox);
  load();
}
