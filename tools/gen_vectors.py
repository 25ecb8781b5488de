#!/usr/bin/env python3
"""Generate the protocol test vectors in protocol/vectors/*.json.

    python tools/gen_vectors.py            # (re)write the files
    python tools/gen_vectors.py --check    # exit 1 if the files on disk differ

Deterministic: fixed seeds, fixed timestamps, Ed25519 (deterministic
signatures) and hard-coded zstd frames, so the same core always writes the
same bytes. A wire change updates the spec, its revision and these vectors in
the same commit (protocol/README.md).

JSON-ish values: a byte string is written as {"$bytes": "<hex>"}, everything
else as plain JSON (a float always has a decimal point or an exponent). The
hex fields are authoritative; the decoded forms are there to check against.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import vectors_advert  # tools/ is on sys.path when this runs as a script
from vector_checks import expect_error, header, jsonish, raw

from p2pfleet.core import codec
from p2pfleet.core.envelope import HEADER_SIZE, Domain, open_envelope, seal, signing_input
from p2pfleet.core.identity import Identity, key_fingerprint
from p2pfleet.core.limits import (
    ADVERT_LIMITS,
    BULK_LIMITS,
    CONTROL_LIMITS,
    DecodeLimits,
)

ROOT = Path(__file__).resolve().parent.parent
VECTOR_DIR = ROOT / "protocol" / "vectors"

# -- fixed inputs -------------------------------------------------------------

SEED_NODE = bytes(range(32))
SEED_OWNER = bytes(range(32, 64))
SEED_SUBMITTER = bytes(range(64, 96))
SEED_FORGER = bytes([0xEE] * 32)
T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z, unix milliseconds

NODE = Identity(SEED_NODE)
OWNER = Identity(SEED_OWNER)
SUBMITTER = Identity(SEED_SUBMITTER)
FORGER = Identity(SEED_FORGER)

LIMIT_SETS: dict[str, DecodeLimits] = {
    "ADVERT_LIMITS": ADVERT_LIMITS,
    "CONTROL_LIMITS": CONTROL_LIMITS,
    "BULK_LIMITS": BULK_LIMITS,
}


# -- helpers -------------------------------------------------------------------


def limits_json(limits: DecodeLimits) -> dict[str, int]:
    return {
        "max_document": limits.max_document,
        "max_bin": limits.max_bin,
        "max_str": limits.max_str,
        "max_array": limits.max_array,
        "max_map": limits.max_map,
        "max_depth": limits.max_depth,
    }


# -- codec ---------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def codec_vectors() -> dict[str, Any]:
    valid_values: list[tuple[str, Any]] = [
        ("nil", None),
        ("true", True),
        ("false", False),
        ("int-zero", 0),
        ("int-positive-fixint-max", 127),
        ("int-uint8-min", 128),
        ("int-uint8-max", 255),
        ("int-uint16-min", 256),
        ("int-uint32-min", 65536),
        ("int-uint64-min", 2**32),
        ("int-uint64-max", 2**64 - 1),
        ("int-negative-fixint-min", -32),
        ("int-int8-min", -33),
        ("int-int16-min", -129),
        ("int-int64-min", -(2**63)),
        ("float64", 1.5),
        ("float64-negative-zero", -0.0),
        ("float64-integral-value", 2.0),
        ("float64-large", 1e300),
        ("str-empty", ""),
        ("str-ascii", "hello"),
        ("str-unicode", "é☃😀"),
        ("str-str8-length-32", "x" * 32),
        ("bin-empty", b""),
        ("bin-all-bytes", bytes(range(256))),
        ("array-empty", []),
        ("array-nested", [1, [2, [3, "x"]], None]),
        ("array-array16-length-16", list(range(16))),
        ("map-empty", {}),
        ("map-keys-sorted-by-utf8-bytes", {"b": 1, "a": 2, "aa": 3, "B": 4}),
        ("map-utf8-not-utf16-order", {"\U0001f600": 1, "\uffff": 2}),
        ("map-map16-size-16", {f"k{i:02d}": i for i in range(16)}),
        ("map-mixed-values", {"n": None, "f": 0.25, "b": b"\x00\xff", "l": [True], "m": {}}),
        ("depth-exactly-max", nested(ADVERT_LIMITS.max_depth)),
    ]
    valid = []
    for name, value in valid_values:
        data = codec.encode(value)
        decoded = codec.decode(data, ADVERT_LIMITS)  # self-check; maps come out in wire order
        valid.append(
            {"name": name, "limits": "ADVERT_LIMITS", "hex": data.hex(), "value": jsonish(decoded)}
        )

    big_doc = [b"\x00" * 250] * 5
    invalid_cases: list[tuple[str, str, bytes, str, str]] = [
        (
            "map-keys-unsorted",
            "ADVERT_LIMITS",
            raw({"b": 1, "a": 2}),
            "DecodeError",
            "keys not in UTF-8 byte order",
        ),
        (
            "map-duplicate-key",
            "ADVERT_LIMITS",
            bytes.fromhex("82a16101a16102"),
            "DecodeError",
            "the same key twice",
        ),
        ("map-key-int", "ADVERT_LIMITS", raw({1: 1}), "DecodeError", "map key is not a str"),
        ("map-key-bin", "ADVERT_LIMITS", raw({b"a": 1}), "DecodeError", "map key is bin, not str"),
        ("map-key-nil", "ADVERT_LIMITS", bytes.fromhex("81c001"), "DecodeError", "map key is nil"),
        (
            "int-non-minimal-uint8",
            "ADVERT_LIMITS",
            bytes.fromhex("cc05"),
            "DecodeError",
            "5 must be a positive fixint",
        ),
        (
            "int-positive-as-int64",
            "ADVERT_LIMITS",
            bytes.fromhex("d30000000000000005"),
            "DecodeError",
            "non-negative integers use the uint/fixint forms",
        ),
        (
            "str-non-minimal-str8",
            "ADVERT_LIMITS",
            bytes.fromhex("d90161"),
            "DecodeError",
            "a 1-byte str must be a fixstr",
        ),
        (
            "array-non-minimal-array16",
            "ADVERT_LIMITS",
            bytes.fromhex("dc0001c0"),
            "DecodeError",
            "a 1-item array must be a fixarray",
        ),
        (
            "map-non-minimal-map16",
            "ADVERT_LIMITS",
            bytes.fromhex("de0001a161c0"),
            "DecodeError",
            "a 1-entry map must be a fixmap",
        ),
        (
            "float32",
            "ADVERT_LIMITS",
            raw(1.5, use_single_float=True),
            "DecodeError",
            "floats are always float64",
        ),
        (
            "ext-fixext1",
            "ADVERT_LIMITS",
            bytes.fromhex("d40100"),
            "DecodeError",
            "ext types are not in the data model",
        ),
        (
            "ext-timestamp",
            "ADVERT_LIMITS",
            raw(msgpack.Timestamp(1, 0)),
            "DecodeError",
            "the msgpack timestamp ext type (-1) is not in the data model",
        ),
        (
            "reserved-byte-c1",
            "ADVERT_LIMITS",
            bytes.fromhex("c1"),
            "DecodeError",
            "0xc1 is never used",
        ),
        (
            "str-invalid-utf8",
            "ADVERT_LIMITS",
            bytes.fromhex("a1ff"),
            "DecodeError",
            "str must be UTF-8",
        ),
        (
            "trailing-bytes",
            "ADVERT_LIMITS",
            bytes.fromhex("0100"),
            "DecodeError",
            "one document, nothing after it",
        ),
        (
            "truncated",
            "ADVERT_LIMITS",
            bytes.fromhex("9201"),
            "DecodeError",
            "array announces 2 items, has 1",
        ),
        ("empty-input", "ADVERT_LIMITS", b"", "DecodeError", "no document at all"),
        (
            "bin-over-limit",
            "ADVERT_LIMITS",
            raw(b"\x00" * (ADVERT_LIMITS.max_bin + 1)),
            "LimitExceededError",
            "bin longer than max_bin",
        ),
        (
            "str-over-limit",
            "ADVERT_LIMITS",
            raw("x" * (ADVERT_LIMITS.max_str + 1)),
            "LimitExceededError",
            "str longer than max_str",
        ),
        (
            "array-over-limit",
            "ADVERT_LIMITS",
            raw(list(range(ADVERT_LIMITS.max_array + 1))),
            "LimitExceededError",
            "array longer than max_array",
        ),
        (
            "map-over-limit",
            "ADVERT_LIMITS",
            raw({f"k{i:02d}": 0 for i in range(ADVERT_LIMITS.max_map + 1)}),
            "LimitExceededError",
            "map larger than max_map",
        ),
        (
            "document-over-limit",
            "ADVERT_LIMITS",
            raw(big_doc),
            "LimitExceededError",
            "document longer than max_document",
        ),
        (
            "depth-over-limit",
            "ADVERT_LIMITS",
            raw(nested(ADVERT_LIMITS.max_depth + 1)),
            "LimitExceededError",
            "a value nested deeper than max_depth",
        ),
        (
            "depth-far-over-limit",
            "CONTROL_LIMITS",
            raw(nested(200)),
            "LimitExceededError",
            "200 nested arrays",
        ),
    ]
    invalid = []
    for name, limits_name, data, error, why in invalid_cases:
        limits = LIMIT_SETS[limits_name]
        expect_error(lambda d=data, lim=limits: codec.decode(d, lim), error, name)  # type: ignore[misc]
        invalid.append(
            {"name": name, "limits": limits_name, "hex": data.hex(), "error": error, "why": why}
        )
    return {
        **header("p2pfleet data model (canonical msgpack subset)", "conventions.md#data-model"),
        "limits": {name: limits_json(limits) for name, limits in LIMIT_SETS.items()},
        "valid": valid,
        "invalid": invalid,
    }


# -- identity and envelope -----------------------------------------------------


def identity_vectors() -> dict[str, Any]:
    cases = []
    for name, seed in [
        ("seed-0..31", SEED_NODE),
        ("seed-32..63", SEED_OWNER),
        ("seed-64..95", SEED_SUBMITTER),
        ("seed-all-ee", SEED_FORGER),
        ("seed-all-zero", bytes(32)),
    ]:
        identity = Identity(seed)
        cases.append(
            {
                "name": name,
                "seed": seed.hex(),
                "public_key": identity.public_key.hex(),
                "peer_id": identity.peer_id,
                "fingerprint": key_fingerprint(identity.public_key),
            }
        )
    return {
        **header("identity: seed -> Ed25519 -> PeerId", "conventions.md#identity"),
        "valid": cases,
    }


def envelope_vectors() -> dict[str, Any]:
    payload = codec.encode({"hello": "fleet", "n": 1})
    signing_inputs = [
        {
            "domain": domain.value,
            "payload": payload.hex(),
            "signing_input": signing_input(domain, payload).hex(),
        }
        for domain in Domain
    ]
    valid = []
    for domain in Domain:
        envelope = seal(NODE, domain, payload)
        valid.append(
            {
                "name": f"sealed-{domain.value}",
                "seed": SEED_NODE.hex(),
                "domain": domain.value,
                "payload": payload.hex(),
                "signer": envelope.signer.hex(),
                "signature": envelope.signature.hex(),
                "wire": envelope.to_bytes().hex(),
            }
        )
    empty = seal(NODE, Domain.ADVERT, b"")
    valid.append(
        {
            "name": "empty-payload",
            "seed": SEED_NODE.hex(),
            "domain": "p2pfleet/advert/1",
            "payload": "",
            "signer": empty.signer.hex(),
            "signature": empty.signature.hex(),
            "wire": empty.to_bytes().hex(),
        }
    )

    good = seal(NODE, Domain.ADVERT, payload).to_bytes()
    flipped_sig = bytearray(good)
    flipped_sig[1 + 32] ^= 0x01
    flipped_payload = bytearray(good)
    flipped_payload[-1] ^= 0x01
    other_signer = bytes([good[0]]) + FORGER.public_key + good[33:]
    bad_version = bytes([2]) + good[1:]
    invalid_cases = [
        (
            "wrong-domain",
            good,
            "p2pfleet/manifest/1",
            1024,
            "SignatureError",
            "sealed for p2pfleet/advert/1, opened as p2pfleet/manifest/1",
        ),
        (
            "flipped-signature-bit",
            bytes(flipped_sig),
            "p2pfleet/advert/1",
            1024,
            "SignatureError",
            "lowest bit of the first signature byte flipped",
        ),
        (
            "flipped-payload-bit",
            bytes(flipped_payload),
            "p2pfleet/advert/1",
            1024,
            "SignatureError",
            "lowest bit of the last payload byte flipped",
        ),
        (
            "signer-replaced",
            other_signer,
            "p2pfleet/advert/1",
            1024,
            "SignatureError",
            "signer key swapped for another key, signature kept",
        ),
        (
            "truncated-header",
            good[: HEADER_SIZE - 1],
            "p2pfleet/advert/1",
            1024,
            "DecodeError",
            "shorter than the 97-byte header",
        ),
        ("empty", b"", "p2pfleet/advert/1", 1024, "DecodeError", "no bytes at all"),
        ("bad-version", bad_version, "p2pfleet/advert/1", 1024, "DecodeError", "version byte 2"),
        (
            "over-max-size",
            good,
            "p2pfleet/advert/1",
            len(good) - 1,
            "LimitExceededError",
            "one byte longer than the receiver's max_size",
        ),
    ]
    invalid = []
    for name, wire, domain_name, max_size, error, why in invalid_cases:
        expect_error(
            lambda w=wire, d=domain_name, m=max_size: open_envelope(w, Domain(d), max_size=m),  # type: ignore[misc]
            error,
            name,
        )
        invalid.append(
            {
                "name": name,
                "wire": wire.hex(),
                "domain": domain_name,
                "max_size": max_size,
                "error": error,
                "why": why,
            }
        )
    return {
        **header("signed envelope", "conventions.md#signed-envelopes"),
        "header_size": HEADER_SIZE,
        "signing_inputs": signing_inputs,
        "valid": valid,
        "invalid": invalid,
    }


# -- driver ------------------------------------------------------------------------

GENERATORS: dict[str, Callable[[], dict[str, Any]]] = {
    "codec.json": codec_vectors,
    "identity.json": identity_vectors,
    "envelope.json": envelope_vectors,
    "advert.json": vectors_advert.advert_vectors,
    **__import__("vectors_manifest").GENERATORS,  # manifest.json, task.json
    "model-fetch.json": __import__("vectors_model_fetch").model_fetch_vectors,
    "status.json": __import__("vectors_status").status_vectors,
    "region-cert.json": __import__("vectors_region_cert").region_cert_vectors,
}


def render() -> dict[str, str]:
    return {
        name: json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
        for name, build in GENERATORS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if protocol/vectors differs from what would be written",
    )
    parser.add_argument("--out", type=Path, default=VECTOR_DIR, help="output directory")
    args = parser.parse_args(argv)
    rendered = render()
    if args.check:
        stale = [
            name
            for name, text in rendered.items()
            if not (args.out / name).is_file()
            or (args.out / name).read_text(encoding="utf-8") != text
        ]
        extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in rendered)
        for name in stale:
            print(f"stale or missing: {args.out / name}", file=sys.stderr)
        for name in extra:
            print(
                f"not generated (remove it or add a generator): {args.out / name}", file=sys.stderr
            )
        if stale or extra:
            print("run: python tools/gen_vectors.py", file=sys.stderr)
            return 1
        print(f"{len(rendered)} vector files are up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
