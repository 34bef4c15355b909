import { Admission } from "../../runtime/admission";

describe("Admission (load shedding)", () => {
  it("admits up to maxInFlight, sheds beyond it and counts each shed request", () => {
    const a = new Admission(2);
    expect(a.tryEnter()).toBe(true);
    expect(a.tryEnter()).toBe(true);
    expect(a.inFlight).toBe(2);
    expect(a.tryEnter()).toBe(false);
    expect(a.tryEnter()).toBe(false);
    expect(a.shed).toBe(2);
    expect(a.inFlight).toBe(2); // a shed request takes no slot
  });

  it("frees a slot on leave(), and an extra leave() never drives the count below zero", () => {
    const a = new Admission(1);
    expect(a.tryEnter()).toBe(true);
    a.leave();
    a.leave();
    expect(a.inFlight).toBe(0);
    expect(a.tryEnter()).toBe(true);
    expect(a.tryEnter()).toBe(false); // still bounded at 1, not 2
  });

  it("honours a bound raised at runtime", () => {
    const a = new Admission(1);
    expect(a.tryEnter()).toBe(true);
    a.maxInFlight = 2;
    expect(a.tryEnter()).toBe(true);
    expect(a.tryEnter()).toBe(false);
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses maxInFlight %p", (n) => {
    expect(() => new Admission(n)).toThrow(RangeError);
  });
});
