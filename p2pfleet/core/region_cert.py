"""Region certificates: an authority attests that a node key operates in a region.

A certificate is a signed envelope (domain `p2pfleet/region-cert/1`) whose
signer is the region authority and whose payload is a canonical msgpack map
(protocol/region-cert.md)::

    {"v": 1, "n": node public key (32), "r": region, "nb": not-before (unix s),
     "na": not-after (unix s)}

About 160 bytes sealed, so it rides in the advert's `cert` field. A
submitter accepts a node's region as *attested* only if the certificate is
signed by an authority it trusts, names that node's key and the advert's
region, and is valid now. Self-declared regions stay usable, but are weak.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from p2pfleet.core import codec
from p2pfleet.core.envelope import Domain, open_envelope, seal
from p2pfleet.core.errors import DecodeError, RemoteProtocolError
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import DecodeLimits

REGION_CERT_VERSION = 1
MAX_REGION_LEN = 32
MAX_REGION_CERT_BYTES = 256  # the advert's `cert` field limit
REGION_CERT_LIMITS = DecodeLimits(
    max_document=MAX_REGION_CERT_BYTES, max_bin=32, max_str=MAX_REGION_LEN, max_array=0, max_map=8
)


class RegionCertError(RemoteProtocolError):
    """A region certificate is malformed, forged, for another node or region, or not valid now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionCert:
    node_key: bytes  # the certified node's Ed25519 public key
    region: str
    not_before_s: int
    not_after_s: int

    def __post_init__(self) -> None:
        if len(self.node_key) != 32:
            raise ValueError("node_key must be a 32-byte public key")
        if not 1 <= len(self.region) <= MAX_REGION_LEN:
            raise ValueError(f"region must be 1..{MAX_REGION_LEN} characters")
        if not 0 <= self.not_before_s < self.not_after_s < 2**32:
            raise ValueError("need 0 <= not_before < not_after < 2**32 (unix seconds)")

    def to_payload(self) -> bytes:
        return codec.encode(
            {
                "v": REGION_CERT_VERSION,
                "n": self.node_key,
                "r": self.region,
                "nb": self.not_before_s,
                "na": self.not_after_s,
            }
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> RegionCert:
        doc = codec.as_map(codec.decode(payload, REGION_CERT_LIMITS), "region certificate")
        if codec.field_int(doc, "v") != REGION_CERT_VERSION:
            raise DecodeError(f"region certificate version {doc.get('v')!r} is not supported")
        try:
            cert = cls(
                node_key=codec.field_bytes(doc, "n", size=32),
                region=codec.field_str(doc, "r", max_len=MAX_REGION_LEN),
                not_before_s=codec.field_int(doc, "nb", low=0, high=2**32 - 1),
                not_after_s=codec.field_int(doc, "na", low=0, high=2**32 - 1),
            )
        except ValueError as exc:
            raise DecodeError(f"invalid region certificate: {exc}") from exc
        if cert.to_payload() != payload:
            raise DecodeError("region certificate is not canonical (extra or reordered keys)")
        return cert


@dataclass(frozen=True, slots=True)
class SignedRegionCert:
    cert: RegionCert
    authority: bytes  # the signer's public key
    wire: bytes


def issue_region_cert(authority: Identity, cert: RegionCert) -> SignedRegionCert:
    wire = seal(authority, Domain.REGION_CERT, cert.to_payload()).to_bytes()
    return SignedRegionCert(cert, authority.public_key, wire)


def open_region_cert(wire: bytes) -> SignedRegionCert:
    """Verify the signature, then decode (any authority). Raises a RemoteProtocolError."""
    envelope = open_envelope(wire, Domain.REGION_CERT, max_size=MAX_REGION_CERT_BYTES)
    return SignedRegionCert(RegionCert.from_payload(envelope.payload), envelope.signer, wire)


def check_region_cert(
    wire: bytes,
    *,
    node_key: bytes,
    region: str,
    trusted: Collection[bytes],
    now_s: int,
) -> SignedRegionCert:
    """The certificate, if it attests `node_key` in `region` now under a trusted authority.

    Raises RegionCertError saying which check failed.
    """
    try:
        signed = open_region_cert(wire)
    except RemoteProtocolError as exc:
        raise RegionCertError(f"region certificate rejected: {exc}") from exc
    cert = signed.cert
    if signed.authority not in trusted:
        raise RegionCertError(
            "region certificate is signed by an authority this submitter does not trust"
        )
    if cert.node_key != node_key:
        raise RegionCertError("region certificate was issued for another node key")
    if cert.region != region:
        raise RegionCertError(f"region certificate is for {cert.region!r}, advert says {region!r}")
    if now_s < cert.not_before_s:
        raise RegionCertError("region certificate is not valid yet")
    if now_s >= cert.not_after_s:
        raise RegionCertError("region certificate has expired; ask the authority for a new one")
    return signed
