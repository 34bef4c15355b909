/**
 * @express-lane/client — verified feature reads from an Express Lane lane. See README.md.
 *
 *   const lane = new ExpressLaneClient({ url, trust: attested({ root: "aws", measurements }) });
 *   const row = await lane.get("user_profile", "user_000042", { features: ["country"] });
 */
export { ExpressLaneClient, ExpressLaneError, retryAfterMs } from "./client";
export type { AttestedKey, ClientErrorCode, ClientOptions, FeatureRow, FeatureStatus, FeatureValue, Format, ReadOptions, RetryOptions, Verification } from "./client";
export { attested, laneKey, pinnedKeys, KEYID_PATTERN } from "./trust";
export type { AttestationAnchor, AttestedOptions, PinnedJwk, PinnedKeysAnchor, TrustAnchor } from "./trust";
