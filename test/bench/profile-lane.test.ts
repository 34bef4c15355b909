// bench/profile-lane.ts: a known call tree and samples → known self and inclusive shares.
import { summarise } from "../../bench/profile-lane";

const frame = (functionName: string, line: number) => ({ functionName, url: "file:///x/dist/a.js", lineNumber: line });

describe("summarise", () => {
  it("counts each sample once for its own function and once for every distinct caller above it", () => {
    // root(1) → read(2) → sign(3); root → (idle)(4); read → read(5) (recursion: same function, counted once inclusive)
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", 0), children: [2, 4] },
        { id: 2, callFrame: frame("read", 10), children: [3, 5] },
        { id: 3, callFrame: frame("sign", 20) },
        { id: 4, callFrame: frame("(idle)", 0) },
        { id: 5, callFrame: frame("read", 10) },
      ],
      samples: [3, 3, 4, 4, 4, 4, 5, 2],
    };
    const s = summarise(profile, 10);
    const share = (list: Array<[string, number]>, name: string) => list.find(([k]) => k.startsWith(name + " "))?.[1];
    expect(share(s.self, "(idle)")).toBe(0.5);
    expect(share(s.self, "sign")).toBe(0.25);
    expect(share(s.self, "read")).toBe(0.25); // ids 5 and 2 alike
    expect(share(s.inclusive, "(root)")).toBe(1);
    expect(share(s.inclusive, "read")).toBe(0.5); // 3, 3, 5, 2 — the recursive frame not twice
    expect(s.self[0]![0]).toBe("(idle) dist/a.js:0");
    expect(summarise(profile, 1).self).toHaveLength(1);
  });
});
