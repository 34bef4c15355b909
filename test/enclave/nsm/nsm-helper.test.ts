// The C helper cannot run its ioctl here (no /dev/nsm), but it must build cleanly with strict
// warnings, and its input checks and failure exits can be exercised.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./fixtures";

const source = join(__dirname, "../../../enclave/nsm/nsm-helper.c");
const hasGcc = spawnSync("gcc", ["--version"]).status === 0;
const run = (binary: string, input: Buffer) => spawnSync(binary, [], { input });

(hasGcc ? describe : describe.skip)("nsm-helper.c", () => {
  const binary = join(tempDir("lane-helper-c-"), "nsm-helper");

  beforeAll(() => {
    execFileSync("gcc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-o", binary, source]);
  });

  test("compiles with -Wall -Wextra -Werror -pedantic", () => {
    expect(existsSync(binary)).toBe(true);
  });

  test("refuses an empty or oversized request with exit 2", () => {
    expect(run(binary, Buffer.alloc(0)).status).toBe(2);
    const big = run(binary, Buffer.alloc(4097));
    expect(big.status).toBe(2);
    expect(big.stderr.toString()).toMatch(/1\.\.4096 bytes/);
  });

  (existsSync("/dev/nsm") ? test.skip : test)("without /dev/nsm, a valid-size request exits 3 and says why", () => {
    const result = run(binary, Buffer.alloc(4096, 0xa1));
    expect(result.status).toBe(3);
    expect(result.stderr.toString()).toMatch(/open \/dev\/nsm/);
    expect(result.stdout.length).toBe(0);
  });
});
