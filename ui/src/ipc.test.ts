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

  it("are checked against the generated ErrorCode union", () => {
    // @ts-expect-error "cancelld" is not an ErrorCode: `npm run lint` fails once this line type-checks.
    expect(hasCode({ code: "cancelld", message: "m" }, "cancelld")).toBe(true);
  });
});
