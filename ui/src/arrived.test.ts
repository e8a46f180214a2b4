import { describe, expect, it } from "vitest";
import { Arrived } from "./ipc";

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
