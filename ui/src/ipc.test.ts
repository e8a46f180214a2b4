import { describe, expect, it } from "vitest";
import { hasCode, isCancelled } from "./ipc";

describe("error codes", () => {
  it("match the core's code of an error report, nothing else", () => {
    expect(isCancelled({ code: "cancelled", message: "sync: cancelled" })).toBe(true);
    expect(isCancelled({ code: "cold_storage", message: "k: in cold storage" })).toBe(false);
    expect(isCancelled("cancelled")).toBe(false);
    expect(hasCode({ code: "not_verified", message: "m" }, "not_verified")).toBe(true);
    expect(hasCode(new Error("cold_storage"), "cold_storage")).toBe(false);
  });
});

// Checked by the type checker, not at run time: `npm run lint` fails once a
// misspelled code type-checks against the generated ErrorCode union.
// @ts-expect-error "cancelld" is not an ErrorCode.
const misspelled: Parameters<typeof hasCode>[1] = "cancelld";
void misspelled;
