// Login page: username and password to a session token.
import { ApiError, login } from "../api";
import { clear, field, h, notice } from "../dom";
import { startLive } from "../live";
import { navigate } from "../nav";

export function loginPage(root: HTMLElement, _params: string[], q: URLSearchParams): void {
  const user = h("input", { name: "username", autocomplete: "username", required: true, value: "admin" });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("div");
  const submit = h("button", { class: "btn primary", type: "submit" }, "Log in");
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        submit.disabled = true;
        clear(msg);
        try {
          await login(user.value.trim(), pass.value);
          startLive();
          const next = q.get("next");
          navigate(next && next.startsWith("/") && next !== "/login" ? next : "/", true);
        } catch (e) {
          const err = e as ApiError;
          clear(msg, notice(err.status === 429 ? `Too many failed logins: ${err.message}` : err.message));
          submit.disabled = false;
          pass.select();
        }
      },
    },
    h("h1", null, "Vigil"),
    h("p", { class: "muted" }, "Host intrusion detection console"),
    field("Username", user),
    field("Password", pass),
    msg,
    submit,
  );
  clear(root, form);
  pass.focus();
}
