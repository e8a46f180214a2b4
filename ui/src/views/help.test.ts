import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { Diagnostics } from "../bindings/Diagnostics";
import { helpMenu, keychainWarning } from "./help";

function report(persists: boolean): Diagnostics {
  return {
    version: "0.1.0",
    os: "linux x86_64",
    keychain: { name: persists ? "Secret Service" : "keyring's in-memory mock", persistence: persists ? "until-delete" : "entry-only", persists },
    log_dir: "/logs",
    recent_errors: [],
    text: "Archive Desk 0.1.0\nRecent errors: none\n",
  };
}

afterEach(() => {
  clearMocks();
  document.body.replaceChildren();
});

describe("profiles screen", () => {
  it("warns when the credential store would lose secrets, and only then", async () => {
    mockIPC((cmd) => (cmd === "diagnostics" ? report(false) : null));
    const warning = await keychainWarning();
    expect(warning?.getAttribute("role")).toBe("alert");
    expect(warning?.textContent).toContain("keyring's in-memory mock");
    clearMocks();
    mockIPC((cmd) => (cmd === "diagnostics" ? report(true) : null));
    expect(await keychainWarning()).toBeNull();
  });
});

describe("help menu", () => {
  it("opens, offers Copy diagnostics, and closes on Escape", () => {
    const menu = helpMenu();
    document.body.append(menu);
    const button = menu.querySelector<HTMLButtonElement>("#help")!;
    const list = menu.querySelector<HTMLElement>("#help-menu")!;
    expect(list.hidden).toBe(true);
    button.click();
    expect(list.hidden).toBe(false);
    expect(button.getAttribute("aria-expanded")).toBe("true");
    expect(list.querySelector("[role=menuitem]")!.textContent).toBe("Copy diagnostics");
    list.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(list.hidden).toBe(true);
    expect(button.getAttribute("aria-expanded")).toBe("false");
  });
});
