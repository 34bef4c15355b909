/**
 * Test helper (run with tsx: hyparquet-writer is ESM-only and jest runs CommonJS): writes a Parquet
 * file from a JSON spec. `tsx test/cli/write-parquet.ts <spec.json> <out.parquet>`
 *
 * spec: { schema: SchemaElement[], columns: { <name>: values[] }, rowGroupSize?: number }
 * Values: `{"$bigint": "123"}` → BigInt, `{"$date": <ms>}` → Date; everything else as JSON.
 */
import { readFileSync } from "node:fs";

async function main(): Promise<void> {
  const [specFile, out] = process.argv.slice(2);
  if (!specFile || !out) throw new Error("usage: write-parquet.ts <spec.json> <out.parquet>");
  const spec = JSON.parse(readFileSync(specFile, "utf8"), (_key, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$bigint === "string") return BigInt(o.$bigint);
      if (typeof o.$date === "number") return new Date(o.$date);
    }
    return v;
  }) as { schema: unknown[]; columns: Record<string, unknown[]>; rowGroupSize?: number };
  const { parquetWriteFile } = await import("hyparquet-writer");
  await parquetWriteFile({
    filename: out,
    schema: spec.schema as never,
    columnData: Object.entries(spec.columns).map(([name, data]) => ({ name, data })),
    rowGroupSize: spec.rowGroupSize,
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
