#!/bin/sh
# The enclave's init: two socat bridges and the signer. Nothing here comes from the host — no
# arguments, no environment, no files — the enclave trusts nothing the parent says.
#
#   parent ── vsock 5000 ──> socat ──> /run/signer.sock ──> node signer.js (key born here, NSM on /dev/nsm)
#   signer ── 127.0.0.1:8000 ──> socat ──> vsock 3:8000 ──> parent vsock-proxy ──> kms.<region>:443 (TLS end to end)
#
# Ports must match constructs/host-units.ts (ENCLAVE_SIGNER_VSOCK_PORT, KMS_VSOCK_PROXY_PORT);
# test/scripts/enclave-image.test.ts checks that they do.
set -eu

SIGNER_SOCKET=/run/signer.sock
SIGNER_VSOCK_PORT=5000
KMS_VSOCK_PORT=8000
PARENT_CID=3

ip link set lo up

socat "TCP-LISTEN:${KMS_VSOCK_PORT},bind=127.0.0.1,fork,reuseaddr" "VSOCK-CONNECT:${PARENT_CID}:${KMS_VSOCK_PORT}" &
socat "VSOCK-LISTEN:${SIGNER_VSOCK_PORT},fork,reuseaddr" "UNIX-CONNECT:${SIGNER_SOCKET}" &

# The production entry point: device NSM only; trust.json (lane, admin keys, seal KMS key) is baked in.
# --workers auto: one signing thread per vCPU the allocator gave the enclave (enclave/allocator.yaml):
# 1 on a c7g.large (the main thread signs, no workers), 2 on a c7g.xlarge, 4 on a c7g.2xlarge. One
# image (one PCR0) fits every size; the count is fixed here, not chosen by the host.
exec node /app/signer.js --socket "${SIGNER_SOCKET}" --trust-config /app/trust.json --workers auto
