import type { UserSummary } from "../bindings/UserSummary";
import { day, h } from "../dom";
import { userLabel } from "../logic";

const ROW = 52;

/** A virtualized list: only the rows in view (plus a margin) exist in the DOM. */
export class UserList {
  readonly el: HTMLElement;
  private readonly spacer: HTMLElement;
  private rows: UserSummary[] = [];
  selected = 0;

  constructor(private readonly onOpen: (u: UserSummary) => void) {
    this.spacer = h("div", { class: "spacer" });
    this.el = h("div", { class: "user-list", role: "listbox", tabindex: "0", "aria-label": "Users" }, this.spacer);
    this.el.addEventListener("scroll", () => this.draw());
  }

  set(rows: UserSummary[]): void {
    this.rows = rows;
    this.selected = Math.min(this.selected, Math.max(rows.length - 1, 0));
    this.spacer.style.height = `${rows.length * ROW}px`;
    this.draw();
  }

  get current(): UserSummary | undefined {
    return this.rows[this.selected];
  }

  select(i: number): void {
    this.selected = i;
    const top = i * ROW;
    if (top < this.el.scrollTop) this.el.scrollTop = top;
    else if (top + ROW > this.el.scrollTop + this.el.clientHeight) this.el.scrollTop = top + ROW - this.el.clientHeight;
    this.draw();
  }

  get length(): number {
    return this.rows.length;
  }

  private draw(): void {
    const height = this.el.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.el.scrollTop / ROW) - 10);
    const last = Math.min(this.rows.length, Math.ceil((this.el.scrollTop + height) / ROW) + 10);
    const nodes: Node[] = [];
    for (let i = first; i < last; i++) {
      const u = this.rows[i];
      const row = h(
        "div",
        {
          class: `user-row${i === this.selected ? " selected" : ""}`,
          role: "option",
          "aria-selected": i === this.selected ? "true" : "false",
          "data-folder": u.folder,
          onclick: () => {
            this.select(i);
            this.onOpen(u);
          },
        },
        h("div", { class: "email", text: userLabel(u) }),
        h(
          "div",
          { class: "meta" },
          `${u.conversation_count} conversation${u.conversation_count === 1 ? "" : "s"} · last archived ${day(u.last_archived_at)}`,
          u.index_missing ? h("span", { class: "badge warn", text: "no index" }) : null,
          u.index_error ? h("span", { class: "badge error", text: "index unreadable" }) : null,
        ),
      );
      row.style.top = `${i * ROW}px`;
      nodes.push(row);
    }
    this.spacer.replaceChildren(...nodes);
  }
}
