import { SharedHighWaterMarks } from "../../enclave/shared-high-water";

describe("enclave/shared-high-water", () => {
  it("admits newer or equal versions, refuses older ones, and reports marks", () => {
    const marks = new SharedHighWaterMarks(10);
    expect(marks.mark("v", "e")).toBeUndefined();
    expect(marks.admit("v", "e", 100)).toBe("ok");
    expect(marks.admit("v", "e", 100)).toBe("ok");
    expect(marks.admit("v", "e", 200)).toBe("ok");
    expect(marks.admit("v", "e", 150)).toBe("rolled_back");
    expect(marks.mark("v", "e")).toBe(200);
    expect(marks.size).toBe(1);
  });

  it("a second handle on the same memory sees the same marks (what worker threads share)", () => {
    const a = new SharedHighWaterMarks(1000);
    const b = new SharedHighWaterMarks(0, a.handle);
    for (let i = 0; i < 300; i++) expect(a.admit("v", `e${i}`, 10)).toBe("ok"); // grows the table
    expect(b.admit("v", "e7", 5)).toBe("rolled_back");
    expect(b.mark("v", "e299")).toBe(10);
    expect(b.size).toBe(300);
  });

  it("keeps every mark across growing the table (rehash in place), as seen from another handle", () => {
    const a = new SharedHighWaterMarks(10_000);
    const b = new SharedHighWaterMarks(0, a.handle);
    const before = a.bytes;
    for (let i = 0; i < 5000; i++) expect(a.admit("v", `e${i}`, 1000 + i)).toBe("ok");
    expect(a.bytes).toBeGreaterThan(before); // it grew (more than once: 4096 slots hold 1024)
    for (let i = 0; i < 5000; i += 7) {
      expect(b.mark("v", `e${i}`)).toBe(1000 + i);
      expect(b.admit("v", `e${i}`, 999 + i)).toBe("rolled_back");
    }
    expect(b.mark("v", "absent")).toBeUndefined();
    expect(b.size).toBe(5000);
  });

  it("at the bound, new entities are refused rather than half-tracked", () => {
    const marks = new SharedHighWaterMarks(2);
    expect(marks.admit("v", "a", 1)).toBe("ok");
    expect(marks.admit("v", "b", 1)).toBe("ok");
    expect(marks.admit("v", "c", 1)).toBe("high_water_full");
    expect(marks.admit("v", "a", 2)).toBe("ok");
  });
});
