// Help menu: "Copy diagnostics" puts the app's version, OS, credential
// store, log directory and recent error codes on the clipboard for a support
// ticket, and shows the same text (nothing in it is customer data).
import type { Diagnostics } from "../bindings/Diagnostics";
import { h } from "../dom";
import { call, errorText } from "../ipc";
import { modal } from "./dialog";

export async function copyDiagnostics(): Promise<void> {
  let report: Diagnostics;
  try {
    report = await call("diagnostics", {});
  } catch (e) {
    await modal("Diagnostics", h("p", { class: "error", text: errorText(e) }), [{ label: "Close", value: "done" }]);
    return;
  }
  let copied = true;
  try {
    await navigator.clipboard.writeText(report.text);
  } catch {
    copied = false;
  }
  const note = copied ? "Copied to the clipboard: paste it into the support ticket." : "The clipboard is not available: select the text below and copy it.";
  const body = h("div", {}, h("p", { id: "diagnostics-note", text: note }), h("pre", { id: "diagnostics-text", class: "diagnostics", text: report.text }));
  await modal("Diagnostics", body, [{ label: "Close", value: "done" }]);
}

/** The Help button and its menu, for the top bar. */
export function helpMenu(): HTMLElement {
  const menu = h("div", { id: "help-menu", class: "menu", role: "menu", "aria-label": "Help" });
  const button = h("button", { id: "help", text: "Help", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": "help-menu" });
  const close = () => {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
  };
  menu.append(
    h("button", {
      id: "copy-diagnostics",
      role: "menuitem",
      text: "Copy diagnostics",
      onclick: () => {
        close();
        void copyDiagnostics();
      },
    }),
  );
  menu.hidden = true;
  button.addEventListener("click", () => {
    menu.hidden = !menu.hidden;
    button.setAttribute("aria-expanded", String(!menu.hidden));
    if (!menu.hidden) menu.querySelector("button")?.focus();
  });
  menu.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      close();
      button.focus();
    }
  });
  document.addEventListener("click", (e) => {
    if (!menu.hidden && e.target instanceof Node && !wrapper.contains(e.target)) close();
  });
  const wrapper = h("div", { class: "menu-anchor" }, button, menu);
  return wrapper;
}

/** The profiles screen's warning when secrets could not be kept (null when they can). */
export async function keychainWarning(): Promise<HTMLElement | null> {
  const report = await call("diagnostics", {}).catch(() => null);
  if (!report || report.keychain.persists) return null;
  return h("p", {
    id: "keychain-warning",
    class: "error",
    role: "alert",
    text: `Secrets cannot be saved: the credential store of this build (${report.keychain.name}) would lose them when the app closes. Profiles without secrets still work.`,
  });
}
