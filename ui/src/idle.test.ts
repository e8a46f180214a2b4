import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { watchInput, whenIdle } from "./idle";

describe("whenIdle", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("waits until no key or click was seen for the quiet time", async () => {
    const target = new EventTarget();
    watchInput(target);
    target.dispatchEvent(new Event("keydown"));
    let idle = false;
    void whenIdle(3000).then(() => (idle = true));
    // Typing goes on: each key pushes the end back.
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      target.dispatchEvent(new Event(i % 2 ? "keydown" : "pointerdown"));
    }
    expect(idle).toBe(false);
    await vi.advanceTimersByTimeAsync(2999);
    expect(idle).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(idle).toBe(true);
  });

  it("resolves at once after a quiet time already passed", async () => {
    const target = new EventTarget();
    watchInput(target);
    target.dispatchEvent(new Event("wheel"));
    await vi.advanceTimersByTimeAsync(5000);
    let idle = false;
    void whenIdle(3000).then(() => (idle = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(idle).toBe(true);
  });
});
