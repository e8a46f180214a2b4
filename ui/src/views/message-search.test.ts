import { describe, expect, it } from "vitest";
import type { MessageSearchUpdate } from "../bindings/MessageSearchUpdate";
import { UpdatesSeen } from "./message-search";

const update = (done: number): MessageSearchUpdate => ({ conversations_done: done, conversations_total: 3, matches: [] });

describe("message search updates", () => {
  it("waits for updates that arrive after the command's answer", async () => {
    const seen = new UpdatesSeen();
    seen.add(update(1));
    let delivered = false;
    const all = seen.allDelivered(3).then(() => {
      delivered = true;
    });
    await Promise.resolve();
    seen.add(update(2));
    await Promise.resolve();
    expect(delivered).toBe(false);
    seen.add(update(3));
    await all;
    expect(delivered).toBe(true);
  });

  it("does not wait when every update is in", async () => {
    const seen = new UpdatesSeen();
    seen.add(update(2));
    await expect(seen.allDelivered(2)).resolves.toBeUndefined();
    await expect(seen.allDelivered(0)).resolves.toBeUndefined();
  });
});
