import type { Profile } from "../bindings/Profile";
import type { ProfileView } from "../bindings/ProfileView";
import type { SecretKind } from "../bindings/SecretKind";
import { FilePurposes, RestoreModes, SecretKinds } from "../bindings/enums";
import { h, kids } from "../dom";
import { call, errorText } from "../ipc";
import { modal } from "./dialog";
import { keychainWarning } from "./help";

/** A label for every kind of secret (the type makes a new kind need one), in form order. */
const SECRET_LABELS: Record<SecretKind, string> = {
  [SecretKinds.AwsSecretAccessKey]: "AWS secret access key",
  [SecretKinds.SupabaseKey]: "Supabase service-role key",
  [SecretKinds.PostgresUrl]: "Postgres connection string",
};
const SECRET_KINDS = Object.values(SecretKinds);

function field(label: string, input: HTMLElement): HTMLElement {
  return h("label", { class: "field" }, h("span", { text: label }), input);
}

function text(name: string, value: string | null | undefined, placeholder = ""): HTMLInputElement {
  return h("input", { type: "text", name, value: value ?? "", placeholder, autocomplete: "off", spellcheck: "false" });
}

/** The profile form: settings to the config file, secrets to the keychain (write-only). */
async function editProfile(existing?: ProfileView): Promise<void> {
  const p = existing;
  const name = text("name", p?.name, "prod");
  if (p) name.readOnly = true;
  const bucket = text("bucket", p?.bucket, "my-archive-bucket");
  const region = text("region", p?.region, "ap-south-1");
  const endpoint = text("endpoint", p?.endpoint, "https://s3.example.com (S3-compatible only)");
  const prefix = text("prefix", p?.prefix ?? "archived_conversations/");
  const accessKey = text("access_key_id", p?.aws.source === "keychain" ? p.aws.access_key_id : "", "empty: AWS default chain");
  const supabaseUrl = text("supabase_url", p?.supabase_url, "https://xyz.supabase.co");
  const mode = h("select", { name: "restore_mode" }, h("option", { value: RestoreModes.Rest, text: "Supabase REST" }), h("option", { value: RestoreModes.Postgres, text: "Direct Postgres" }));
  mode.value = p?.restore_mode ?? RestoreModes.Rest;
  const rpc = text("rpc_function", p?.rpc_function, "restore_archived_conversation (optional)");
  const readOnly = h("input", { type: "checkbox", name: "read_only" });
  readOnly.checked = p?.read_only ?? false;
  const secrets = SECRET_KINDS.map((kind) => {
    const label = SECRET_LABELS[kind];
    const input = h("input", { type: "password", name: kind, autocomplete: "new-password", placeholder: p?.secrets_set[kind] ? "set (type to replace)" : "not set" });
    return { kind, label, input };
  });
  const error = h("p", { class: "error", role: "alert" });
  const body = h(
    "form",
    { class: "profile-form" },
    field("Name", name),
    field("Bucket", bucket),
    field("Region", region),
    field("Endpoint", endpoint),
    field("Prefix", prefix),
    field("AWS access key id", accessKey),
    field("Supabase URL", supabaseUrl),
    field("Restore mode", mode),
    field("RPC function", rpc),
    h("label", { class: "check" }, readOnly, " Read-only (no restore, delete or repair)"),
    h("h3", { text: "Secrets (stored in the OS keychain, never shown again)" }),
    ...secrets.map((s) => field(s.label, s.input)),
    error,
  );
  for (;;) {
    const choice = await modal(p ? `Edit profile ${p.name}` : "New profile", body, [
      { label: "Cancel", value: "cancel" },
      { label: "Save", value: "save" },
    ]);
    if (choice !== "save") return;
    const profile: Profile = {
      bucket: bucket.value.trim(),
      region: region.value.trim() || null,
      endpoint: endpoint.value.trim() || null,
      path_style: false,
      prefix: prefix.value.trim(),
      aws: accessKey.value.trim()
        ? { source: "keychain", access_key_id: accessKey.value.trim() }
        : { source: "default-chain", aws_profile: null },
      supabase_url: supabaseUrl.value.trim() || null,
      restore_mode: mode.value === RestoreModes.Postgres ? RestoreModes.Postgres : RestoreModes.Rest,
      conversations_table: p?.conversations_table ?? "conversations",
      messages_table: p?.messages_table ?? "messages",
      conflict_key: p?.conflict_key ?? "id",
      rpc_function: rpc.value.trim() || null,
      postgres_ca_file: p?.postgres_ca_file ?? null,
      read_only: readOnly.checked,
      allow_unsafe_index_writes: p?.allow_unsafe_index_writes ?? false,
    };
    try {
      const saved = await call("save_profile", { name: name.value.trim(), profile });
      const keyTyped = secrets.some((s) => s.kind === SecretKinds.SupabaseKey && s.input.value);
      for (const s of secrets) {
        if (s.input.value) await call("set_secret", { name: name.value.trim(), kind: s.kind, value: s.input.value });
        s.input.value = "";
      }
      if (saved.supabase_key_cleared && !keyTyped) {
        // A key goes only to the project it was given for.
        await modal("Supabase key cleared", h("p", { id: "supabase-key-cleared", text: "The Supabase URL changed, so the stored Supabase key was deleted. Enter the key of the new project to restore there." }), [{ label: "OK", value: "ok" }]);
      }
      return;
    } catch (e) {
      error.textContent = errorText(e);
    }
  }
}

/** The profiles manager: pick, add, edit, import a .env, test, remove. */
export async function manageProfiles(onOpen: (name: string) => void): Promise<void> {
  const list = h("div", { class: "profile-list" });
  const status = h("div", { class: "checks", role: "status" });
  const refresh = async () => {
    const profiles = await call("list_profiles", {}).catch(() => [] as ProfileView[]);
    list.replaceChildren(
      ...(profiles.length === 0
        ? [h("p", { class: "empty", text: "No profiles yet. Add one, or import the archiver's .env file." })]
        : profiles.map((p) =>
            h(
              "div",
              { class: "profile-row" },
              h("strong", { text: p.name }),
              h("span", { class: "meta", text: `${p.bucket}${p.endpoint ? ` at ${p.endpoint}` : ""}${p.read_only ? " · read-only" : ""}` }),
              h("button", { text: "Open", onclick: () => { document.querySelector<HTMLDialogElement>("dialog.modal")?.close("done"); onOpen(p.name); } }),
              h("button", { text: "Edit", onclick: async () => { await editProfile(p); await refresh(); } }),
              h("button", {
                text: "Test",
                onclick: async () => {
                  status.replaceChildren(h("p", { text: `Testing ${p.name}…` }));
                  try {
                    const checks = await call("test_profile", { name: p.name });
                    status.replaceChildren(...checks.map((c) => h("p", { class: `check-${c.status}`, text: `${c.status.toUpperCase()} · ${c.name}: ${c.message}` })));
                  } catch (e) {
                    status.replaceChildren(h("p", { class: "error", text: errorText(e) }));
                  }
                },
              }),
              h("button", {
                text: "Remove",
                class: "danger",
                onclick: async () => {
                  await call("remove_profile", { name: p.name }).catch((e) => status.replaceChildren(h("p", { class: "error", text: errorText(e) })));
                  await refresh();
                },
              }),
            ),
          )),
    );
  };
  const importEnv = async () => {
    try {
      const file = await call("choose_file", { purpose: FilePurposes.ImportEnv, suggestedName: ".env" });
      if (!file) return;
      const name = window.prompt("Name of the new profile", "prod")?.trim();
      if (!name) return;
      const r = await call("import_env", { name, file: file.token, replace: false });
      status.replaceChildren(
        ...kids(
          h("p", { text: `Created ${r.profile}: settings ${r.settings.join(", ")}; to the keychain: ${r.secrets.join(", ") || "none"}` }),
          r.ignored.length ? h("p", { text: `Ignored: ${r.ignored.join(", ")}` }) : null,
        ),
      );
    } catch (e) {
      status.replaceChildren(h("p", { class: "error", text: errorText(e) }));
    }
    await refresh();
  };
  await refresh();
  const body = h(
    "div",
    {},
    await keychainWarning(),
    list,
    h("div", { class: "row" },
      h("button", { text: "Add profile", onclick: async () => { await editProfile(); await refresh(); } }),
      h("button", { text: "Import .env…", onclick: importEnv }),
    ),
    status,
  );
  await modal("Profiles", body, [{ label: "Close", value: "done" }]);
}
