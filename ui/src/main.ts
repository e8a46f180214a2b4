// The app's entry: build the page, wire the search box and the keyboard,
// and open a profile (the one named in `?profile=`, or the only one) or
// ask for one. Where things live:
// - state.ts: what the window shows and works on;
// - layout.ts: the page's elements and the status line;
// - browse.ts: opening a profile, the users list, search, the catalog;
// - conversations.ts: a user's conversations and the open conversation;
// - actions.ts: export, delete, verify, repair;
// - restore.ts: restore preview, bulk restore, live status;
// - keyboard.ts: the keys;
// - views/: the parts of the page (lists, transcript, dialogs, audit, task bar).
// User Timing marks of the launch (read by the GUI benchmark,
// tests/e2e/tests/gui_bench.rs): when the page's script starts, and when it
// first calls the app (the rest: `archive-desk:profile-opened`, `:list-users`, `:first-user-row`).
performance.mark("archive-desk:script-start");
import { openLaunchProfile, openProfile, searchAsYouType } from "./browse";
import { call } from "./ipc";
import { installKeyboard } from "./keyboard";
import { watchInput } from "./idle";
import { convPane, empty, fail, mountLayout, usersBody, viewPane } from "./layout";
import { manageProfiles } from "./views/profiles";

mountLayout();
watchInput();
searchAsYouType();
installKeyboard();

empty(usersBody, "Welcome", "Open a profile to browse its archive: Profiles… (add one, or import the archiver's .env).");
empty(convPane, "", "");
empty(viewPane, "", "");
performance.mark("archive-desk:first-call");
// The only profile was opened as the app started: taken in one round trip.
// Else the names alone (no keychain read), and the one in `?profile=`.
openLaunchProfile()
  .then(async (opened) => {
    if (opened) return;
    const names = await call("profile_names", {});
    const wanted = new URLSearchParams(window.location.search).get("profile");
    const pick = names.find((n) => n === wanted) ?? (names.length === 1 ? names[0] : undefined);
    if (pick) void openProfile(pick);
    else if (names.length === 0) manageProfiles(openProfile);
  })
  .catch(fail);
