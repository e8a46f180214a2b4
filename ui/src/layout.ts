// The page: top bar, the three panes (users, conversations, conversation),
// the status line and the task bar; and how a message reaches the status line.
import { h } from "./dom";
import { openHit, openProfile, summaryOf, syncCatalog } from "./browse";
import { openUser } from "./conversations";
import { showAudit } from "./views/audit";
import { helpMenu } from "./views/help";
import { manageProfiles } from "./views/profiles";
import { SearchResults } from "./views/search";
import { TaskBar } from "./views/tasks";
import { UserList } from "./views/users";
import { errorText } from "./ipc";
import { showShortcuts } from "./keyboard";
import { installDividers } from "./panes";

export const search = h("input", { type: "search", id: "search", placeholder: "Search emails and titles  ( / )", "aria-label": "Search emails and titles" });
const profileButton = h("button", { id: "profiles", text: "Profiles…", onclick: () => manageProfiles(openProfile) });
export const profileLabel = h("span", { class: "profile-label", text: "No profile open" });
const auditButton = h("button", { id: "audit-log", text: "Audit log", onclick: () => showAudit() });
const keysButton = h("button", { id: "shortcuts", text: "?", title: "Keyboard shortcuts (?)", "aria-label": "Keyboard shortcuts", onclick: () => showShortcuts() });
const status = h("div", { id: "status", class: "status", role: "status", "aria-live": "polite" });
const usersPane = h("section", { class: "pane users-pane", "aria-label": "Users" });
export const convPane = h("section", { class: "pane conv-pane", "aria-label": "Conversations" });
export const viewPane = h("section", { class: "pane view-pane", "aria-label": "Conversation" });
export const userList = new UserList((u) => openUser(u));
export const results = new SearchResults(
  (folder, email) => openUser(summaryOf(folder, email)),
  (hit) => openHit(hit),
);
export const tasks = new TaskBar();
export const catalogText = h("span", { class: "meta", id: "catalog-status" });
export const syncButton = h("button", { id: "sync", class: "small", text: "Sync", title: "Bring the search catalog up to date with the bucket", onclick: () => syncCatalog() });
export const catalogBar = h("div", { class: "catalog-bar" }, catalogText, syncButton);
export const usersBody = h("div", { class: "users-body" });

/** Build the page into `#app`. */
export function mountLayout(): void {
  catalogBar.hidden = true;
  usersPane.append(catalogBar, usersBody);
  const panes = h("main", { class: "panes" });
  const [afterUsers, afterConversations] = installDividers(panes);
  panes.append(usersPane, afterUsers, convPane, afterConversations, viewPane);
  document.getElementById("app")!.append(
    h("header", { class: "topbar" }, h("h1", { class: "brand", text: "Archive Desk" }), profileLabel, profileButton, search, auditButton, keysButton, helpMenu()),
    panes,
    h("footer", { class: "footer" }, status, tasks.el),
  );
}

export function say(text: string, kind: "info" | "error" | "ok" = "info"): void {
  status.className = `status ${kind}`;
  status.textContent = text;
}

/** A finished irreversible action; with a warning when its audit outcome is missing. */
export function sayDone(text: string, auditWarning?: string): void {
  if (auditWarning) say(`${text}. Warning: ${auditWarning}`, "error");
  else say(text, "ok");
}

export function fail(e: unknown): void {
  say(errorText(e), "error");
}

export function empty(pane: HTMLElement, title: string, hint: string): void {
  pane.replaceChildren(h("div", { class: "empty" }, h("h2", { text: title }), h("p", { text: hint })));
}
