// Test fixtures for admin-signed registry documents, signed the way `express-lane apply` signs them.
import { localAdminSigner } from "../../wire/key-directory";
import { signRegistryDocument, type RegistryDocument, type ViewDocument } from "../../wire/registry-document";
import type { TestAdmin } from "./key-directory";

export const smallView = (name: string, features: ViewDocument["features"] = [{ name: "score", type: "float" }], maxAge = 3600): ViewDocument => ({
  name,
  entity_key: "id",
  max_age_seconds: maxAge,
  owner: "tests@example.com",
  description: `test view ${name}`,
  features,
});

export async function signedRegistry(admin: TestAdmin, doc: Partial<RegistryDocument> & { version: number }, now = Date.now()): Promise<Buffer> {
  return Buffer.from(await signRegistryDocument({ lane: "test-lane", issued_at: now - 1000, views: [smallView("clicks")], ...doc }, admin.entry.kid, localAdminSigner(admin.pem)));
}
