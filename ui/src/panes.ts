// Resizable panes: a divider between users and conversations and one
// between conversations and the open conversation, dragged or moved with
// the arrow keys; the widths are kept in the page's localStorage, so they
// are the same at the next launch.
import { h } from "./dom";

export interface PaneWidths {
  users: number;
  conversations: number;
}

export const DEFAULT_WIDTHS: PaneWidths = { users: 280, conversations: 460 };
const KEY = "archive-desk.pane-widths";
/** Narrowest each pane may get; the open conversation takes what is left, at least VIEW_MIN. */
const USERS_MIN = 180;
const CONVERSATIONS_MIN = 260;
const VIEW_MIN = 320;
/** Pixels an arrow key moves a divider. */
export const KEY_STEP = 16;

/** Widths that fit a window `windowWidth` wide, each pane at least its minimum. */
export function clampWidths(w: PaneWidths, windowWidth: number): PaneWidths {
  const users = Math.round(Math.max(USERS_MIN, Math.min(w.users, windowWidth - CONVERSATIONS_MIN - VIEW_MIN)));
  const conversations = Math.round(Math.max(CONVERSATIONS_MIN, Math.min(w.conversations, windowWidth - users - VIEW_MIN)));
  return { users, conversations };
}

/** The saved widths (the defaults when none are saved or they are unreadable). */
export function loadWidths(storage: Pick<Storage, "getItem">): PaneWidths {
  try {
    const saved = JSON.parse(storage.getItem(KEY) ?? "null") as Partial<PaneWidths> | null;
    if (saved && Number.isFinite(saved.users) && Number.isFinite(saved.conversations)) {
      return { users: saved.users!, conversations: saved.conversations! };
    }
  } catch {
    // Not JSON: the defaults.
  }
  return { ...DEFAULT_WIDTHS };
}

export function saveWidths(storage: Pick<Storage, "setItem">, w: PaneWidths): void {
  storage.setItem(KEY, JSON.stringify(w));
}

/** Make `panes` (a grid of users, conversations, view) resizable: returns its two dividers. */
export function installDividers(panes: HTMLElement, storage: Storage = window.localStorage): [HTMLElement, HTMLElement] {
  let widths = clampWidths(loadWidths(storage), window.innerWidth);
  const dividers = (["users", "conversations"] as const).map((which) => {
    const label = which === "users" ? "Resize the users pane" : "Resize the conversations pane";
    const el = h("div", { class: "divider", role: "separator", tabindex: "0", "aria-orientation": "vertical", "aria-label": label, "data-pane": which });
    el.addEventListener("pointerdown", (down) => {
      const start = widths[which];
      el.setPointerCapture(down.pointerId);
      const onMove = (e: PointerEvent) => apply({ ...widths, [which]: start + e.clientX - down.clientX }, false);
      const onUp = () => {
        el.removeEventListener("pointermove", onMove);
        saveWidths(storage, widths);
      };
      el.addEventListener("pointermove", onMove);
      el.addEventListener("pointerup", onUp, { once: true });
    });
    return el;
  }) as unknown as [HTMLElement, HTMLElement];

  function apply(w: PaneWidths, save: boolean): void {
    widths = clampWidths(w, window.innerWidth);
    panes.style.setProperty("--users-width", `${widths.users}px`);
    panes.style.setProperty("--conversations-width", `${widths.conversations}px`);
    dividers.forEach((d) => d.setAttribute("aria-valuenow", String(widths[d.dataset.pane as keyof PaneWidths])));
    if (save) saveWidths(storage, widths);
  }

  /** Arrow keys on a focused divider (run from the keyboard table). */
  resizeFocused = (e: KeyboardEvent) => {
    const d = dividers.find((x) => x === e.target);
    if (!d) return false;
    const which = d.dataset.pane as keyof PaneWidths;
    apply({ ...widths, [which]: widths[which] + (e.key === "ArrowLeft" ? -KEY_STEP : KEY_STEP) }, true);
    return true;
  };
  apply(widths, false);
  window.addEventListener("resize", () => apply(widths, false));
  return dividers;
}

/** Move the focused divider by an arrow key; false when no divider has the focus. */
export let resizeFocused: (e: KeyboardEvent) => boolean = () => false;
