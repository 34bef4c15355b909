/**
 * API key tool. `create` prints a new key ONCE on stdout and stores only its SHA-256 record:
 *
 *   npm run keys -- create --id svc-ranker --role reader [--rps 500 --burst 1000] --file keys.json
 *   npm run keys -- list --file keys.json
 *   npm run keys -- revoke --id svc-ranker --file keys.json
 *
 * Without --file, `create` prints the record to stderr for you to put into SSM / Secrets Manager.
 * After changing the file, `kill -HUP <runtime pid>` (or systemctl reload) applies it.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import { ApiKeyRecord, generateKey, parseKeys, Role, ROLES } from "../runtime/auth";

function readKeys(file: string): ApiKeyRecord[] {
  return existsSync(file) ? parseKeys(readFileSync(file, "utf8")) : [];
}

function writeKeys(file: string, keys: ApiKeyRecord[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file); // atomic: a SIGHUP never sees half a file
}

export function keysCommand(): Command {
  const program = new Command("express-lane-keys").description("create, list and revoke API keys (only SHA-256 digests are stored)");
  program
    .command("create")
    .requiredOption("--id <id>", "key id (appears in logs and metrics; not secret)")
    .addOption(new Option("--role <role>", "reader | writer | admin").choices([...ROLES]).default("reader"))
    .option("--rps <n>", "rate limit, requests per second")
    .option("--burst <n>", "rate limit bucket size")
    .option("--file <path>", "keys file to add the record to")
    .action((o: { id: string; role: Role; rps?: string; burst?: string; file?: string }) => {
      const rateLimit = o.rps ? { rps: Number(o.rps), ...(o.burst ? { burst: Number(o.burst) } : {}) } : undefined;
      const { key, record } = generateKey(o.id, o.role, rateLimit);
      if (o.file) {
        const keys = readKeys(o.file);
        if (keys.some((k) => k.id === o.id)) throw new Error(`id ${o.id} exists in ${o.file}; revoke it first`);
        writeKeys(o.file, parseKeys(JSON.stringify([...keys, record])));
        process.stderr.write(`stored the SHA-256 of key ${o.id} (${o.role}) in ${o.file}; the key is shown once:\n`);
      } else {
        process.stderr.write(`record (store this, not the key):\n${JSON.stringify(record)}\nthe key is shown once:\n`);
      }
      process.stdout.write(`${key}\n`);
    });
  program
    .command("list")
    .requiredOption("--file <path>")
    .action((o: { file: string }) => {
      for (const k of readKeys(o.file))
        process.stdout.write(`${k.id}\t${k.role}\t${k.rateLimit ? `${k.rateLimit.rps}/s burst ${k.rateLimit.burst ?? k.rateLimit.rps}` : "no limit"}\n`);
    });
  program
    .command("revoke")
    .requiredOption("--id <id>")
    .requiredOption("--file <path>")
    .action((o: { id: string; file: string }) => {
      const keys = readKeys(o.file);
      const rest = keys.filter((k) => k.id !== o.id);
      if (rest.length === keys.length) throw new Error(`no key ${o.id} in ${o.file}`);
      writeKeys(o.file, rest);
      process.stderr.write(`revoked ${o.id}; send SIGHUP to the runtime to apply\n`);
    });
  return program;
}

if (require.main === module) {
  keysCommand()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      process.stderr.write(`keys: ${(err as Error).message}\n`);
      process.exit(1);
    });
}
