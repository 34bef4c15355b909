/**
 * The docs name only things in this repository (or public URLs): no paths into the machine they
 * were written on (`/work/…`, `../shared`, home folders), and every relative link resolves to a
 * file inside the repository.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(__dirname, "../../..");
const DOCS = [
  join(ROOT, "README.md"),
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => /\.(md|ya?ml)$/.test(f))
    .map((f) => join(ROOT, "docs", f)),
];
const OUTSIDE = /(?:^|[\s(`'"[])(\/work\/|\/home\/|\/root\/|\.\.\/shared\b|file:\/\/)/;

/** Lines naming a path outside the repository. */
export function outsideReferences(text: string): string[] {
  return text.split("\n").filter((line) => OUTSIDE.test(line));
}

/** Relative markdown link targets of a page that do not resolve inside the repository. */
export function brokenLinks(file: string, text: string): string[] {
  const bad: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!.split("#")[0]!;
    if (target === "" || /^[a-z]+:/i.test(target)) continue;
    const full = resolve(dirname(file), target);
    if (relative(ROOT, full).startsWith("..") || !existsSync(full)) bad.push(target);
  }
  return bad;
}

describe("docs reference only the repository", () => {
  it("the checks catch what they should", () => {
    expect(outsideReferences("see /work/shared/facts.md\nand ../shared/x\nfine: docs/keys.md, https://example.com/work/x")).toEqual([
      "see /work/shared/facts.md",
      "and ../shared/x",
    ]);
    expect(brokenLinks(join(ROOT, "docs", "x.md"), "[a](keys.md) [b](../../outside.md) [c](missing.md) [d](https://x.y/z) [e](#anchor)")).toEqual([
      "../../outside.md",
      "missing.md",
    ]);
  });

  it.each(DOCS.map((f) => [relative(ROOT, f)]))("%s: no paths outside the repository, no broken relative links", (name) => {
    const file = join(ROOT, name);
    const text = readFileSync(file, "utf8");
    expect(outsideReferences(text)).toEqual([]);
    expect(brokenLinks(file, text)).toEqual([]);
  });
});
