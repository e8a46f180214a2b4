import { h } from "../dom";

/** A modal <dialog>; resolves with the button's value, or null on Esc. */
export function modal(title: string, body: Node, buttons: { label: string; value: string; danger?: boolean }[]) {
  return new Promise<string | null>((resolve) => {
    const dlg = h("dialog", { class: "modal", "aria-label": title });
    const footer = h("div", { class: "modal-buttons" });
    for (const b of buttons) {
      footer.append(
        h("button", {
          class: b.danger ? "danger" : "",
          text: b.label,
          "data-value": b.value,
          onclick: () => {
            dlg.close(b.value);
          },
        }),
      );
    }
    dlg.append(h("h2", { text: title }), body, footer);
    dlg.addEventListener("close", () => {
      const v = dlg.returnValue;
      dlg.remove();
      resolve(v === "" ? null : v);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Ask for confirmation; with `typeToConfirm`, the person must type that text. */
export async function confirmDanger(title: string, lines: string[], typeToConfirm?: string, confirmLabel = "Delete permanently"): Promise<boolean> {
  const body = h("div", {}, ...lines.map((l) => h("p", { text: l })));
  let input: HTMLInputElement | undefined;
  if (typeToConfirm) {
    input = h("input", { type: "text", "aria-label": "Type to confirm", autocomplete: "off" });
    body.append(h("label", {}, `Type ${typeToConfirm} to confirm:`, input));
  }
  const dlgPromise = modal(title, body, [
    { label: "Cancel", value: "cancel" },
    { label: confirmLabel, value: "ok", danger: true },
  ]);
  const okButton = document.querySelector<HTMLButtonElement>("dialog.modal button[data-value=ok]");
  if (input && okButton) {
    okButton.disabled = true;
    input.addEventListener("input", () => {
      okButton.disabled = input!.value.trim() !== typeToConfirm;
    });
    input.focus();
  }
  return (await dlgPromise) === "ok";
}
