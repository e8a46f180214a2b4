// The one way the UI calls the app: `call(name, args)`, typed by the schema
// generated from the shell's command table (src-tauri/src/command_list.rs
// -> ui/src/bindings/commands.ts, written by `cargo test -p archive-desk`).
// A wrong name, a missing or misspelled argument or a wrong result type is
// a type error; a test in the shell checks that the UI calls every command
// and that nothing else calls `invoke`.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { CommandName, Commands } from "./bindings/commands";
import type { ErrorCode } from "./bindings/ErrorCode";
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

/**
 * How far a channel's messages have got: a level that only grows (users
 * received, conversations searched). Tauri sends a message over 8 KB by a
 * fetch of its own, which can land after the command's answer, so code
 * that reads what a channel gathered first waits until the level reaches
 * what the answer says was sent.
 */
export class Arrived {
  private level = 0;
  private waiting: { n: number; resolve: () => void }[] = [];

  note(level: number): void {
    this.level = Math.max(this.level, level);
    const ready = this.waiting.filter((w) => w.n <= this.level);
    this.waiting = this.waiting.filter((w) => w.n > this.level);
    for (const w of ready) w.resolve();
  }

  reached(n: number): Promise<void> {
    if (this.level >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ n, resolve }));
  }
}

export function isErrorReport(e: unknown): e is ErrorReport {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function errorText(e: unknown): string {
  return isErrorReport(e) ? e.message : String(e);
}

/** True when `e` is the core's error with `code` (a code the core has: a typo does not type-check). */
export function hasCode(e: unknown, code: ErrorCode): boolean {
  return isErrorReport(e) && e.code === code;
}

/** True when a long task ended because the person cancelled it. */
export function isCancelled(e: unknown): boolean {
  return hasCode(e, "cancelled");
}
