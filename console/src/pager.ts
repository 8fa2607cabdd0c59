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
  // Filters: a changed control starts again at page 1; typing does so after a pause. Returns the
  // page's cleanup.
  watch(load: () => void, changed: HTMLElement[], typed: HTMLElement[]): () => void {
    let timer: number | undefined;
    const restart = () => {
      this.reset();
      load();
    };
    for (const el of changed) el.addEventListener("change", restart);
    for (const el of typed) {
      el.addEventListener("input", () => {
        window.clearTimeout(timer);
        timer = window.setTimeout(restart, 300);
      });
    }
    return () => window.clearTimeout(timer);
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
