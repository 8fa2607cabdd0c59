// Cursor pagination (the API's next_cursor): remembers the cursors of the pages seen so that
// "previous" works, and renders the controls.
import { h } from "./dom";

export class Pager {
  private stack: string[] = [""];
  next = "";

  get cursor(): string {
    return this.stack[this.stack.length - 1];
  }
  get page(): number {
    return this.stack.length;
  }
  reset(): void {
    this.stack = [""];
    this.next = "";
  }
  controls(reload: () => void): HTMLElement {
    return h(
      "nav",
      { class: "pager", "aria-label": "pages" },
      h(
        "button",
        {
          class: "btn",
          disabled: this.stack.length <= 1,
          onclick: () => {
            this.stack.pop();
            reload();
          },
        },
        "‹ Previous",
      ),
      h("span", null, `page ${this.page}`),
      h(
        "button",
        {
          class: "btn",
          disabled: !this.next,
          onclick: () => {
            this.stack.push(this.next);
            reload();
          },
        },
        "Next ›",
      ),
    );
  }
}
