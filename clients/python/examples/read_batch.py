#!/usr/bin/python3
"""Read a batch from a lane, verify every answer, and show that a tampered answer is refused.
Only the standard library and the Debian packages python3-cryptography, python3-cbor2 (and
python3-msgpack for --msgpack).

    # the local lane (npm start): attest with the dev CA and the dev signer bundle's PCRs
    npx tsx -e 'console.log(JSON.stringify(require("./enclave/nsm/local-nsm").measureLocalBundle("dist/dev-signer.js")))' > /tmp/m.json
    PYTHONPATH=clients/python /usr/bin/python3 clients/python/examples/read_batch.py http://127.0.0.1:8080 \\
        --root .lane/dev-ca/root.pem --measurements /tmp/m.json user_000001 user_000002 nobody
    # or pin the keyid npm start printed
    PYTHONPATH=clients/python /usr/bin/python3 clients/python/examples/read_batch.py http://127.0.0.1:8080 --key <keyid> user_000001
"""
import argparse
import sys

from express_lane import Client, ExpressLaneError, HttpResponse, attested, http_transport, pinned_keys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("entities", nargs="+")
    p.add_argument("--view", default="user_profile")
    p.add_argument("--features", default="country,risk_score")
    p.add_argument("--root", help='"aws", or a PEM file (local: .lane/dev-ca/root.pem)')
    p.add_argument("--measurements", help="nitro-cli measurements JSON")
    p.add_argument("--key", action="append", help="a pinned keyid (repeatable)")
    p.add_argument("--msgpack", action="store_true")
    args = p.parse_args()
    if args.key:
        trust = pinned_keys(*args.key)
    elif args.root and args.measurements:
        trust = attested(root=args.root, measurements=args.measurements)
    else:
        p.error("a trust anchor is required: --root and --measurements, or --key")

    lane = Client(args.url, trust=trust, format="msgpack" if args.msgpack else "json")
    rows = lane.get_many(args.view, args.entities, features=args.features.split(","))
    for row in rows:
        v = row["verification"]
        state = "found" if row["found"] else f"not found ({row['error']['code']})"
        print(f"{row['entity']}: {state} {row['features']} written_by={row['written_by']} event_time={row['event_time']} [verified keyid={v['keyid'][:12]}… nonce={v['nonce'][:8]}…]")
    print("columns:", rows.to_dict())

    def flip_one_byte(method, url, headers, body, timeout):
        res = http_transport(method, url, headers, body, timeout)
        return HttpResponse(res.status, res.headers, res.body[:-3] + bytes([res.body[-3] ^ 1]) + res.body[-2:]) if "/v1/features/" in url else res

    try:
        Client(args.url, trust=trust, transport=flip_one_byte).get_many(args.view, args.entities)
    except ExpressLaneError as err:
        print(f"tampered answer refused: {err.code} ({err.reason})")
        return 0
    print("a tampered answer was accepted", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
