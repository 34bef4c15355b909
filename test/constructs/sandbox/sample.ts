import type { UserDataOptions } from "../../../constructs/user-data";

/** The host settings the construct tests render user data and units with. */
export const SAMPLE: UserDataOptions = {
  region: "ap-south-1",
  bucketName: "lane--aps1-az1--x-s3",
  readerPort: 8080,
  enclaveMemoryMib: 1536,
  artifactBucket: "express-lane-artifacts-ap-south-1",
  releaseId: "0123abcd",
  expectedPcr0: "ab".repeat(48),
  agent: { readerPort: 8080, logRetentionDays: 30, logGroups: { runtime: "/express-lane/runtime", bootstrap: "/express-lane/bootstrap", metrics: "/express-lane/prometheus" } },
};
