import { describe, expect, it } from "vitest";
import { Arrived, hasCode, isCancelled } from "./ipc";

describe("error codes", () => {
  it("match the core's code of an error report, nothing else", () => {
    expect(isCancelled({ code: "cancelled", message: "sync: cancelled" })).toBe(true);
    expect(isCancelled({ code: "cold_storage", message: "k: in cold storage" })).toBe(false);
    expect(isCancelled("cancelled")).toBe(false);
    expect(hasCode({ code: "not_verified", message: "m" }, "not_verified")).toBe(true);
    expect(hasCode(new Error("cold_storage"), "cold_storage")).toBe(false);
  });
});

describe("what a channel delivered", () => {
  it("waits for messages that arrive after the command's answer", async () => {
    const arrived = new Arrived();
    arrived.note(1);
    let delivered = false;
    const all = arrived.reached(3).then(() => {
      delivered = true;
    });
    await Promise.resolve();
    arrived.note(2);
    await Promise.resolve();
    expect(delivered).toBe(false);
    arrived.note(3);
    await all;
    expect(delivered).toBe(true);
  });

  it("does not wait when everything is in, and never goes back", async () => {
    const arrived = new Arrived();
    arrived.note(2);
    arrived.note(1);
    await expect(arrived.reached(2)).resolves.toBeUndefined();
    await expect(arrived.reached(0)).resolves.toBeUndefined();
  });

  it("lets several wait for different levels", async () => {
    const arrived = new Arrived();
    const order: number[] = [];
    const a = arrived.reached(5).then(() => order.push(5));
    const b = arrived.reached(2).then(() => order.push(2));
    arrived.note(3);
    await b;
    expect(order).toEqual([2]);
    arrived.note(5);
    await a;
    expect(order).toEqual([2, 5]);
  });
});

// Checked by the type checker, not at run time: `npm run lint` fails once a
// misspelled code type-checks against the generated ErrorCode union.
// @ts-expect-error "cancelld" is not an ErrorCode.
const misspelled: Parameters<typeof hasCode>[1] = "cancelld";
void misspelled;
