#!/usr/bin/env bash
# Build the signer enclave image (EIF) and the PCR measurements everything else pins.
#
#   dist/signer.js + enclave/image/ + enclave/nsm/nsm-helper.c
#     → docker image (linux/arm64, FROM the digest in enclave/image/base-image.json)   docker build
#     → build/enclave/express-lane.eif                                                 nitro-cli build-enclave
#     → build/enclave/measurements.json    nitro-cli's {"Measurements": {PCR0, PCR1, PCR2, …}} + "BaseImage", "Toolchain"
#
# measurements.json feeds the KMS key policy (stacks: EXPRESS_LANE_MEASUREMENTS) and consumers'
# `express-lane attest --measurements`. Runs on an arm64 (aarch64) Linux machine with Docker and
# nitro-cli from its packages — Amazon Linux: `dnf install aws-nitro-enclaves-cli
# aws-nitro-enclaves-cli-devel` (https://docs.aws.amazon.com/enclaves/latest/user/nitro-enclave-cli-install.html);
# deploy.yml runs it in an amazonlinux:2023 container on GitHub's arm64 runner. Nothing here needs
# AWS credentials. Every missing prerequisite is reported at once, before anything is built.
#
# Environment:
#   OUT_DIR         output folder (default build/enclave)
#   IMAGE           docker tag (default express-lane-signer:<git sha>)
#   IMAGE_DIR       the image sources: Dockerfile, entrypoint.sh, base-image.json (default enclave/image)
#   NODE_IMAGE      override the base image; must be pinned (name:tag@sha256:<64 hex>). Default: the
#                   image, tag and digest recorded in $IMAGE_DIR/base-image.json.
#   SIGNER_BUNDLE   use this bundle instead of building dist/signer.js
#   SEAL_KMS_KEY_ARN  (required) the seal KMS key ARN (bootstrap output seal_key_arn).
#   LANE_NAME       (required) the lane's name (the key directory's `lane`).
#   ADMIN_KEYS      (required) JSON array of the admin public keys that sign key directories,
#                   [{"kid": "...", "publicKey": "<base64 raw Ed25519>"}] (`express-lane admin-key
#                   public --kms <admin signing key arn>` prints one entry).
#                   All three are baked into the image as /app/trust.json, so they are measured:
#                   the enclave unwraps writer keys only under this KMS key and accepts key
#                   directories only from these admins, whatever the host says (docs/keys.md).
#   NODE_MODULES    where the lockfile install lives (default node_modules; npm ci on the arm64 runner)
#   NITRO_CLI_BLOBS nitro-cli's kernel/init blobs (nitro-cli's own variable; default
#                   /usr/share/nitro_enclaves/blobs, installed by aws-nitro-enclaves-cli-devel)
#   EIF_SIGNING_CERT, EIF_SIGNING_KEY   sign the EIF (adds PCR8, the signing certificate's hash)
set -euo pipefail

cd "$(dirname "$0")/.."

OUT_DIR=${OUT_DIR:-build/enclave}
IMAGE=${IMAGE:-express-lane-signer:$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}
IMAGE_DIR=${IMAGE_DIR:-enclave/image}
EIF="$OUT_DIR/express-lane.eif"
MEASUREMENTS="$OUT_DIR/measurements.json"
BLOBS=${NITRO_CLI_BLOBS:-/usr/share/nitro_enclaves/blobs}

# --- Prerequisites: all of them checked, all problems reported together ----------------------
problems=()
have() { command -v "$1" >/dev/null 2>&1; }
have jq || problems+=("jq not found: install jq (dnf install jq)")
if ! have docker; then
  problems+=("docker not found: install the Docker CLI (dnf install docker) and give it an arm64 engine")
elif ! docker info >/dev/null 2>&1; then
  problems+=("docker cannot reach its daemon (DOCKER_HOST or /var/run/docker.sock): start dockerd, or mount the host's socket into the container")
fi
have nitro-cli || problems+=("nitro-cli not found: install aws-nitro-enclaves-cli (Amazon Linux: dnf install aws-nitro-enclaves-cli aws-nitro-enclaves-cli-devel)")
# nitro-cli takes the enclave kernel from its blobs by the machine it runs on (aarch64 → Image):
# an x86_64 build would produce an x86 EIF that no Graviton host can run.
arch=$(uname -m)
[[ "$arch" == aarch64 ]] || problems+=("this machine is $arch: build on arm64 (aarch64), the architecture of the Graviton hosts")
for blob in Image Image.config cmdline init linuxkit nsm.ko; do
  if [[ ! -f "$BLOBS/$blob" ]]; then
    problems+=("nitro-cli blob $BLOBS/$blob is missing: install aws-nitro-enclaves-cli-devel (or set NITRO_CLI_BLOBS)")
    break
  fi
done

# --- The base image: pinned by digest, from the checked-in record -----------------------------
PINNED='^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9][A-Za-z0-9._-]*@sha256:[0-9a-f]{64}$'
base_record="$IMAGE_DIR/base-image.json"
if [[ -n "${NODE_IMAGE:-}" ]]; then
  [[ "$NODE_IMAGE" =~ $PINNED ]] || problems+=("NODE_IMAGE '$NODE_IMAGE' is not pinned by digest (name:tag@sha256:<64 hex>): an unpinned base image makes PCR0 unreproducible")
elif [[ ! -f "$base_record" ]]; then
  problems+=("$base_record is missing: it records the base image's tag and digest")
elif have jq; then
  NODE_IMAGE=$(jq -r '"\(.image // ""):\(.tag // "")@\(.digest // "")"' "$base_record")
  [[ "$NODE_IMAGE" =~ $PINNED ]] || problems+=("$base_record does not pin the base image by digest (image, tag, digest sha256:<64 hex>), got '$NODE_IMAGE'")
fi
# Every stage must build FROM that argument, and the argument must have no default: a literal
# FROM (or a default tag) would be an unpinned image the digest check never sees.
dockerfile="$IMAGE_DIR/Dockerfile"
if [[ -f "$dockerfile" ]]; then
  while IFS= read -r line; do
    [[ "$line" =~ ^FROM[[:space:]]+--platform=linux/arm64[[:space:]]+\$\{NODE_IMAGE\}([[:space:]]+AS[[:space:]]+[a-z0-9-]+)?$ ]] \
      || problems+=("$dockerfile: '$line' is not FROM --platform=linux/arm64 \${NODE_IMAGE} (the pinned base image)")
  done < <(grep -iE '^[[:space:]]*FROM[[:space:]]' "$dockerfile")
  grep -qE '^ARG NODE_IMAGE$' "$dockerfile" || problems+=("$dockerfile: declare 'ARG NODE_IMAGE' without a default")
else
  problems+=("$dockerfile is missing")
fi

SEAL_KMS_KEY_ARN=${SEAL_KMS_KEY_ARN:-}
SEAL_KMS_REGION=""
if [[ "$SEAL_KMS_KEY_ARN" =~ ^arn:aws[a-z-]*:kms:([a-z0-9-]+):[0-9]{12}:key/[A-Za-z0-9-]+$ ]]; then
  SEAL_KMS_REGION=${BASH_REMATCH[1]}
else
  problems+=("SEAL_KMS_KEY_ARN must be the seal key's ARN (bootstrap output seal_key_arn; in CI the variable EXPRESS_LANE_SEAL_KEY_ARN of the lane's -plan environment), got '$SEAL_KMS_KEY_ARN'")
fi

LANE_NAME=${LANE_NAME:-}
[[ "$LANE_NAME" =~ ^[a-z][a-z0-9-]{0,31}$ ]] || problems+=("LANE_NAME must be the lane's name (lower-case, ≤ 32 characters; in CI the variable EXPRESS_LANE_NAME), got '$LANE_NAME'")
ADMIN_KEYS=${ADMIN_KEYS:-}
if ! jq -e 'type == "array" and length >= 1 and length <= 8 and all(.[]; (.kid | type == "string" and test("^[A-Za-z0-9_.-]{1,64}$")) and (.publicKey | type == "string" and test("^[A-Za-z0-9+/]{43}=$")))' <<<"${ADMIN_KEYS:-null}" >/dev/null 2>&1; then
  problems+=("ADMIN_KEYS must be a JSON array of 1..8 {kid, publicKey (base64 of 32 bytes)} admin keys (express-lane admin-key public; in CI the variable EXPRESS_LANE_ADMIN_KEYS), got '$ADMIN_KEYS'")
fi

if [[ ${#problems[@]} -gt 0 ]]; then
  echo "build-eif: cannot build the EIF:" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi

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
cp "$dockerfile" "$IMAGE_DIR/entrypoint.sh" enclave/nsm/nsm-helper.c "$context/"
cp "$SIGNER_BUNDLE" "$context/signer.js"
jq -n --arg lane "$LANE_NAME" --argjson adminKeys "$ADMIN_KEYS" --arg keyArn "$SEAL_KMS_KEY_ARN" --arg region "$SEAL_KMS_REGION" \
  '{lane: $lane, adminKeys: $adminKeys, sealKms: {keyArn: $keyArn, region: $region}}' > "$context/trust.json"

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
# The base image the PCRs belong to, next to them: a rebuild from the same commit and digest must
# give the same PCR0 (docs/trust.md), and a consumer can see which Node the signer ran on.
# So are nitro-cli's version and the blobs it put into the EIF (kernel, init, NSM driver: measured
# into PCR0/PCR1), which come from the build machine's aws-nitro-enclaves-cli-devel package.
nitro_version=$(nitro-cli --version 2>/dev/null | head -n 1 || true)
blob_sums=$(cd "$BLOBS" && sha256sum Image cmdline init linuxkit nsm.ko | jq -R -s 'split("\n") | map(select(length > 0) | capture("^(?<sum>[0-9a-f]{64}) [ *](?<name>.+)$") | {(.name): .sum}) | add')
jq --arg ref "$NODE_IMAGE" --arg nitro "$nitro_version" --argjson blobs "$blob_sums" \
  '{Measurements: .Measurements, BaseImage: {reference: $ref, digest: ($ref | split("@")[1])}, Toolchain: {nitroCli: $nitro, blobsSha256: $blobs}}' \
  "$OUT_DIR/build-enclave.json" > "$MEASUREMENTS"

echo "build-eif: $EIF ($(wc -c < "$EIF") bytes)" >&2
echo "build-eif: $MEASUREMENTS PCR0=$(jq -r .Measurements.PCR0 "$MEASUREMENTS") base=$NODE_IMAGE" >&2
