import { h } from "../dom";
import { call } from "../ipc";
import type { ProgressView } from "../logic";

let sequence = 0;

/** A fresh id for a cancellable backend task. */
export function newTaskId(): string {
  return `task-${Date.now()}-${++sequence}`;
}

/**
 * Long tasks (catalog sync, whole-user export) shown in the status bar, each
 * with a progress bar and a Cancel button, so the window stays usable while
 * they run.
 */
export class TaskBar {
  readonly el: HTMLElement = h("div", { class: "tasks", role: "group", "aria-label": "Running tasks" });

  /** Start a task under a fresh id; resolves or rejects as the task does. */
  async run<P, T>(
    label: string,
    start: (task: string, onProgress: (p: P) => void) => Promise<T>,
    view: (p: P) => ProgressView,
  ): Promise<T> {
    const id = newTaskId();
    const bar = h("progress", { max: "1", "aria-label": label });
    const text = h("span", { class: "task-text", text: "starting…" });
    const cancel = h("button", {
      class: "task-cancel",
      text: "Cancel",
      onclick: () => {
        cancel.disabled = true;
        text.textContent = "cancelling…";
        void call("cancel_task", { task: id });
      },
    });
    const row = h("div", { class: "task", "data-task": id }, h("strong", { text: label }), bar, text, cancel);
    this.el.append(row);
    try {
      return await start(id, (p) => {
        if (cancel.disabled) return;
        const v = view(p);
        text.textContent = v.text;
        if (v.fraction === null) bar.removeAttribute("value");
        else bar.value = v.fraction;
      });
    } finally {
      row.remove();
    }
  }
}
