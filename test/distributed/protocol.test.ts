import { expect, it } from "vitest";
import { bullPriority, redactUrl, whyNotWireData } from "../../src/executors/remote/protocol.js";

it("maps Tributary priorities (higher first) onto BullMQ's (lower first), one to one and within range", () => {
  const ps = [-1e9, -5, -1, 0, 1, 2, 10, 1e9];
  const mapped = ps.map(bullPriority);
  for (let i = 1; i < mapped.length; i++) expect(mapped[i]!).toBeLessThanOrEqual(mapped[i - 1]!);
  expect(new Set(mapped.slice(1, -1)).size).toBe(ps.length - 2);
  for (const m of mapped) {
    expect(Number.isInteger(m)).toBe(true);
    expect(m).toBeGreaterThanOrEqual(1); // 0 would mean "no priority": before every prioritized job
    expect(m).toBeLessThanOrEqual(2 ** 21 - 1);
  }
  expect(bullPriority(0.4)).toBe(bullPriority(0));
  expect(bullPriority(Infinity)).toBe(1);
  expect(bullPriority(NaN)).toBe(bullPriority(-Infinity));
});

it("hides the password of a Redis URL", () => {
  expect(redactUrl("rediss://app:s3cret@redis.internal:6380/2")).toBe(
    "rediss://app:***@redis.internal:6380/2",
  );
  expect(redactUrl("redis://127.0.0.1:6379")).toBe("redis://127.0.0.1:6379");
});

it("lets undefined fields through (JSON drops them) but not what JSON would change", () => {
  expect(whyNotWireData({ a: 1, b: undefined, c: [1, "x", null, { d: true }] })).toBeUndefined();
  expect(whyNotWireData({ a: [1, undefined] })).toBe("value.a[1] is undefined");
  expect(whyNotWireData({ when: new Date(0) })).toBe("value.when is an instance of Date");
  expect(whyNotWireData(NaN)).toBe("value is the number NaN");
  expect(whyNotWireData(() => 1)).toMatch(/^value is a function/);
});
