import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RegistryState } from "../../enclave/registry-state";
import { Signer } from "../../enclave/signer";
import { RegistrySync } from "../../runtime/registry-sync";
import { MemoryStore } from "../../runtime/store/memory-store";
import { DEFAULT_REGISTRY, DEFAULT_REGISTRY_REF } from "../../registry/views";
import { REGISTRY_STORE_KEY } from "../../wire/registry-document";
import { testAdmin } from "../helpers/key-directory";
import { signedRegistry, smallView } from "../helpers/registry-document";

// The runtime side against the real signer logic (in process): what it forwards, what it keeps.
const admin = testAdmin();
const imageDefault = { registry: DEFAULT_REGISTRY, ref: DEFAULT_REGISTRY_REF };
function enclave() {
  const state = new RegistryState({ lane: "test-lane", adminKeys: [admin.entry] }, imageDefault);
  const signer = new Signer({ registryState: state });
  const forwarded: number[] = [];
  return {
    state,
    forwarded,
    client: {
      up: true,
      provisionRegistry: async (document?: Uint8Array) => {
        if (document) forwarded.push(document.length);
        return signer.provisionRegistry(document ? { document } : {});
      },
    },
  };
}

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "registry-sync-"))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("runtime/registry-sync", () => {
  it("forwards the newest of the file and the store copy; the grammar follows what the signer accepted", async () => {
    const e = enclave();
    const file = join(dir, "registry.json");
    writeFileSync(file, await signedRegistry(admin, { version: 1 }));
    const store = new MemoryStore([[REGISTRY_STORE_KEY, await signedRegistry(admin, { version: 3, views: [smallView("clicks"), smallView("orders")] })]]);
    const changes: number[] = [];
    const sync = new RegistrySync({ signer: e.client, imageDefault, file, store, onChange: (held) => changes.push(held.ref.version) });
    expect(sync.current.ref.version).toBe(0);
    await sync.sync();
    expect(sync.current.ref.version).toBe(3);
    expect(changes).toEqual([3]); // e.g. lane_build_info's registry_version follows
    expect(sync.current.registry.names).toEqual(["clicks", "orders"]);
    expect(e.forwarded).toHaveLength(1); // the older file copy is not even sent
    await sync.sync();
    expect(e.forwarded).toHaveLength(1); // nothing newer: nothing forwarded
  });

  it("a restarted signer (back at the image default) gets the document again", async () => {
    let e = enclave();
    const file = join(dir, "registry.json");
    writeFileSync(file, await signedRegistry(admin, { version: 2 }));
    const client = { up: true, provisionRegistry: (d?: Uint8Array) => e.client.provisionRegistry(d) };
    const sync = new RegistrySync({ signer: client, imageDefault, file });
    await sync.sync();
    expect(sync.current.ref.version).toBe(2);
    e = enclave(); // restart: empty state
    await sync.sync();
    expect(e.state.current.ref.version).toBe(2);
  });

  it("a host-made or malformed candidate is refused by the signer; the runtime keeps what the signer holds", async () => {
    const e = enclave();
    const file = join(dir, "registry.json");
    writeFileSync(file, await signedRegistry(testAdmin(admin.entry.kid), { version: 9, views: [smallView("host_view")] }));
    const warnings: string[] = [];
    const sync = new RegistrySync({ signer: e.client, imageDefault, file, logger: { info: () => undefined, warn: (_o, m) => void warnings.push(m) } });
    await sync.sync();
    expect(sync.current.ref).toEqual(DEFAULT_REGISTRY_REF);
    expect(sync.current.registry.get("host_view")).toBeUndefined();
    expect(warnings.join("\n")).toMatch(/signer refused a registry document/);
  });

  it("publish writes the fleet copy only when the signer accepted the document", async () => {
    const e = enclave();
    const store = new MemoryStore();
    const sync = new RegistrySync({ signer: e.client, imageDefault, store });
    await expect(sync.publish(await signedRegistry(testAdmin(admin.entry.kid), { version: 1 }))).rejects.toMatchObject({ code: "bad_registry_document" });
    expect((await store.get(REGISTRY_STORE_KEY)).found).toBe(false);
    const good = await signedRegistry(admin, { version: 1 });
    const { held, stored } = await sync.publish(good);
    expect(held.ref.version).toBe(1);
    expect(stored).toBe(true);
    const copy = await store.get(REGISTRY_STORE_KEY);
    expect(copy.found && Buffer.from(copy.body).equals(good)).toBe(true);
  });

  it("a read-only store session: the signer's acceptance stands, the answer says the copy was not stored", async () => {
    const e = enclave();
    const store = new MemoryStore();
    store.put = async () => {
      throw new Error("AccessDenied: ReadOnly session");
    };
    const sync = new RegistrySync({ signer: e.client, imageDefault, store });
    const { held, stored } = await sync.publish(await signedRegistry(admin, { version: 1 }));
    expect(held.ref.version).toBe(1);
    expect(stored).toBe(false);
  });
});
