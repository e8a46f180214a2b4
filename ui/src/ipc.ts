// The one way the UI calls the app: `call(name, args)`, typed by the schema
// generated from the shell's command table (src-tauri/src/command_list.rs
// -> ui/src/bindings/commands.ts, written by `cargo test -p archive-desk`).
// A wrong name, a missing or misspelled argument or a wrong result type is
// a type error; a test in the shell checks that the UI calls every command
// and that nothing else calls `invoke`.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { CommandName, Commands } from "./bindings/commands";
import type { ErrorReport } from "./bindings/ErrorReport";

/** The arguments of command `K`, keys as the command reads them. */
export type Args<K extends CommandName> = Commands[K]["args"];
/** What command `K` resolves to. */
export type Result<K extends CommandName> = Commands[K]["result"];

/** Call command `name`; a failure rejects with an `ErrorReport`. */
export function call<K extends CommandName>(name: K, args: Args<K>): Promise<Result<K>> {
  return invoke<Result<K>>(name, args);
}

/** A channel the backend streams into (batches, progress). */
export function channel<T>(onMessage: (message: T) => void): Channel<T> {
  const c = new Channel<T>();
  c.onmessage = onMessage;
  return c;
}

export function isErrorReport(e: unknown): e is ErrorReport {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function errorText(e: unknown): string {
  return isErrorReport(e) ? e.message : String(e);
}

/** True when a long task ended because the person cancelled it. */
export function isCancelled(e: unknown): boolean {
  return isErrorReport(e) && e.code === "cancelled";
}
