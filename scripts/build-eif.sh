#!/usr/bin/env bash
# Build the signer enclave image (EIF) and the PCR measurements everything else pins.
#
#   dist/signer.js + enclave/image/ + enclave/nsm/nsm-helper.c
#     → docker image (linux/arm64)                       docker build
#     → build/enclave/express-lane.eif                   nitro-cli build-enclave
#     → build/enclave/measurements.json                  nitro-cli's {"Measurements": {PCR0, PCR1, PCR2, …}}
#
# measurements.json feeds the KMS key policy (stacks: EXPRESS_LANE_MEASUREMENTS) and consumers'
# `express-lane attest --measurements`. Runs on an arm64 host with Docker and nitro-cli (the
# aws-nitro-enclaves-cli package); nothing here needs AWS credentials.
#
# Environment:
#   OUT_DIR         output folder (default build/enclave)
#   IMAGE           docker tag (default express-lane-signer:<git sha>)
#   NODE_IMAGE      base image; pin by digest for a reproducible PCR0 (default node:20-bookworm-slim)
#   SIGNER_BUNDLE   use this bundle instead of building dist/signer.js
#   SEAL_KMS_KEY_ARN  (required) the seal KMS key ARN (bootstrap output seal_key_arn). Baked into
#                   the image as /app/seal-kms.json, so it is measured: the enclave unwraps seal
#                   keys only under this key, whatever the host says (docs/keys.md).
#   NODE_MODULES    where the lockfile install lives (default node_modules; npm ci on the arm64 runner)
#   EIF_SIGNING_CERT, EIF_SIGNING_KEY   sign the EIF (adds PCR8, the signing certificate's hash)
set -euo pipefail

cd "$(dirname "$0")/.."

OUT_DIR=${OUT_DIR:-build/enclave}
IMAGE=${IMAGE:-express-lane-signer:$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}
NODE_IMAGE=${NODE_IMAGE:-node:20-bookworm-slim}
EIF="$OUT_DIR/express-lane.eif"
MEASUREMENTS="$OUT_DIR/measurements.json"

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "build-eif: '$1' not found: $2" >&2; exit 1; }
}
need docker "install Docker (with an arm64 engine)"
need nitro-cli "install aws-nitro-enclaves-cli"
need jq "install jq"

SEAL_KMS_KEY_ARN=${SEAL_KMS_KEY_ARN:-}
if [[ ! "$SEAL_KMS_KEY_ARN" =~ ^arn:aws[a-z-]*:kms:([a-z0-9-]+):[0-9]{12}:key/[A-Za-z0-9-]+$ ]]; then
  echo "build-eif: SEAL_KMS_KEY_ARN must be the seal key's ARN (bootstrap output seal_key_arn), got '$SEAL_KMS_KEY_ARN'" >&2
  exit 1
fi
SEAL_KMS_REGION=${BASH_REMATCH[1]}

if [[ -z "${SIGNER_BUNDLE:-}" ]]; then
  npm run --silent build -- signer
  SIGNER_BUNDLE=dist/signer.js
fi
[[ -f "$SIGNER_BUNDLE" ]] || { echo "build-eif: no signer bundle at $SIGNER_BUNDLE" >&2; exit 1; }

# A build context with exactly the files the image needs: nothing else can leak into the
# measured image, and the build does not ship node_modules to the daemon.
context="$OUT_DIR/context"
rm -rf "$context"
mkdir -p "$context"
cp enclave/image/Dockerfile enclave/image/entrypoint.sh enclave/nsm/nsm-helper.c "$context/"
cp "$SIGNER_BUNDLE" "$context/signer.js"
jq -n --arg keyArn "$SEAL_KMS_KEY_ARN" --arg region "$SEAL_KMS_REGION" '{keyArn: $keyArn, region: $region}' > "$context/seal-kms.json"

# msgpackr's native decoder for the signer (measured: stored-object decode 33 → 20 µs, a 100-entity
# batch −30 %; docs/performance.md). The linux-arm64 prebuild comes from the lockfile install, so
# its bytes are pinned by package-lock.json's integrity hashes; without it the signer falls back
# to msgpackr's pure-JS decoder (same results, slower).
NODE_MODULES=${NODE_MODULES:-node_modules}
native="$NODE_MODULES/@msgpackr-extract/msgpackr-extract-linux-arm64"
mkdir -p "$context/node_modules"
if [[ -d "$native" ]]; then
  mkdir -p "$context/node_modules/@msgpackr-extract"
  cp -R "$NODE_MODULES/msgpackr-extract" "$NODE_MODULES/node-gyp-build-optional-packages" "$context/node_modules/"
  cp -R "$native" "$context/node_modules/@msgpackr-extract/"
else
  echo "build-eif: $native is not installed (run npm ci on the arm64 host): the signer will use msgpackr's pure-JS decoder" >&2
fi

docker build --platform linux/arm64 --build-arg "NODE_IMAGE=$NODE_IMAGE" --tag "$IMAGE" "$context"

signing=()
if [[ -n "${EIF_SIGNING_CERT:-}" ]]; then
  signing=(--signing-certificate "$EIF_SIGNING_CERT" --private-key "${EIF_SIGNING_KEY:?EIF_SIGNING_KEY is required with EIF_SIGNING_CERT}")
fi

# nitro-cli prints progress on stderr and the measurements as JSON on stdout.
nitro-cli build-enclave --docker-uri "$IMAGE" --output-file "$EIF" "${signing[@]}" > "$OUT_DIR/build-enclave.json"

jq -e '[.Measurements | (.PCR0, .PCR1, .PCR2) | strings | select(test("^[0-9a-f]{96}$"))] | length == 3' \
  "$OUT_DIR/build-enclave.json" >/dev/null \
  || { echo "build-eif: nitro-cli output has no PCR0/1/2 measurements" >&2; exit 1; }
jq '{Measurements: .Measurements}' "$OUT_DIR/build-enclave.json" > "$MEASUREMENTS"

echo "build-eif: $EIF ($(wc -c < "$EIF") bytes)" >&2
echo "build-eif: $MEASUREMENTS PCR0=$(jq -r .Measurements.PCR0 "$MEASUREMENTS")" >&2
