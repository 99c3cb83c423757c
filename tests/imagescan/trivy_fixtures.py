"""Build what `trivy image` reads, in trivy's own formats, from Python alone.

- `write_bolt(path, tree)`: a BoltDB file (bbolt on-disk format, page size 4096) from nested dicts
  `{bucket name: {key: bytes | nested dict}}`; nested dicts become buckets.
- `write_vuln_db(cache_dir, spec)`: `<cache_dir>/db/trivy.db` + `metadata.json` from a YAML-shaped spec
  (the bolt-fixtures layout trivy's own integration tests use, see `DB_SPEC_EXAMPLE`).
- `write_docker_archive(path, os_release, packages)`: a `docker save`-style tarball whose single layer holds the
  OS release file and the package database (dpkg status for Debian, apk installed for Alpine).

Format facts: ../shared/reference/trivy-offline-fixtures.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

PAGE_SIZE = 4096
_MAGIC = 0xED0CDAED
_BOLT_VERSION = 2
_LEAF, _META, _FREELIST = 0x02, 0x04, 0x10
_BUCKET_LEAF_FLAG = 0x01
_PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
_LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos, ksize, vsize

BoltTree = Mapping[bytes | str, "bytes | str | BoltTree"]

_STATUS = {
    "unknown": 0,
    "not_affected": 1,
    "affected": 2,
    "fixed": 3,
    "under_investigation": 4,
    "will_not_fix": 5,
    "fix_deferred": 6,
    "end_of_life": 7,
}
_SEVERITY = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
_DATA_SOURCES = {
    "debian": {
        "ID": "debian",
        "Name": "Debian Security Tracker",
        "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
    },
    "alpine": {"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/"},
}


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class _Writer:
    def __init__(self) -> None:
        self.pages: list[bytes] = []  # index = pgid - 3 (0, 1 meta; 2 freelist)

    def _alloc(self, body_count: int, flags: int, body: bytes) -> int:
        pgid = 3 + len(self.pages)
        size = _PAGE_HEADER.size + len(body)
        npages = -(-size // PAGE_SIZE)
        data = _PAGE_HEADER.pack(pgid, flags, body_count, npages - 1) + body
        data += b"\0" * (npages * PAGE_SIZE - len(data))
        for i in range(npages):
            self.pages.append(data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE])
        return pgid

    def bucket(self, tree: BoltTree) -> int:
        """Write one bucket as a single leaf page (with overflow pages when it is large); return its pgid."""
        items: list[tuple[bytes, int, bytes]] = []
        for key, value in tree.items():
            if isinstance(value, Mapping):
                root = self.bucket(value)
                items.append((_as_bytes(key), _BUCKET_LEAF_FLAG, struct.pack("<QQ", root, 0)))
            else:
                items.append((_as_bytes(key), 0, _as_bytes(value)))
        items.sort(key=lambda item: item[0])
        if len({k for k, _, _ in items}) != len(items):
            raise ValueError("duplicate keys in one bucket")
        headers = b""
        payload = b""
        header_bytes = _LEAF_ELEMENT.size * len(items)
        for index, (key, flags, value) in enumerate(items):
            pos = header_bytes - index * _LEAF_ELEMENT.size + len(payload)
            headers += _LEAF_ELEMENT.pack(flags, pos, len(key), len(value))
            payload += key + value
        return self._alloc(len(items), _LEAF, headers + payload)


def _meta_page(pgid: int, root: int, high_water: int, txid: int) -> bytes:
    meta = struct.pack("<IIII", _MAGIC, _BOLT_VERSION, PAGE_SIZE, 0)
    meta += struct.pack("<QQ", root, 0) + struct.pack("<QQQ", 2, high_water, txid)
    meta += struct.pack("<Q", _fnv1a64(meta))
    page = _PAGE_HEADER.pack(pgid, _META, 0, 0) + meta
    return page + b"\0" * (PAGE_SIZE - len(page))


def write_bolt(path: Path, tree: BoltTree) -> None:
    """Write `tree` as a BoltDB file: top-level values must be buckets (dicts)."""
    if any(not isinstance(v, Mapping) for v in tree.values()):
        raise ValueError("the top level of a BoltDB holds buckets only")
    writer = _Writer()
    root = writer.bucket(tree)
    high_water = 3 + len(writer.pages)
    freelist = _PAGE_HEADER.pack(2, _FREELIST, 0, 0)
    freelist += b"\0" * (PAGE_SIZE - len(freelist))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        _meta_page(0, root, high_water, 0) + _meta_page(1, root, high_water, 1) + freelist + b"".join(writer.pages)
    )


# ---------------------------------------------------------------- vulnerability DB


DB_SPEC_EXAMPLE = """
os: debian 12                  # bucket name: `debian <major>` or `alpine <major.minor>`
advisories:
  - id: CVE-2099-0001
    package: openssl            # Debian: source package; Alpine: origin
    fixed: 3.0.99-1             # absent or empty: unfixed
    severity: CRITICAL          # vendor severity (UNKNOWN..CRITICAL)
    status: fixed               # optional; int Status in the DB
    title: "demo"
"""


@dataclass(frozen=True)
class Advisory:
    id: str
    package: str
    fixed: str
    severity: str
    title: str
    status: str | None = None


def parse_db_spec(spec: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, Advisory]]]:
    """A spec is `{os: ..., advisories: [...]}` or `{sources: [{os: ..., advisories: [...]}, ...]}`."""
    sources = spec.get("sources", [spec])
    names: list[str] = []
    out: list[tuple[str, Advisory]] = []
    for source in sources:
        os_bucket = str(source["os"])
        names.append(os_bucket)
        for adv in source.get("advisories", []):
            out.append(
                (
                    os_bucket,
                    Advisory(
                        id=str(adv["id"]),
                        package=str(adv["package"]),
                        fixed=str(adv.get("fixed") or ""),
                        severity=str(adv.get("severity", "UNKNOWN")).upper(),
                        title=str(adv.get("title", adv["id"])),
                        status=adv.get("status"),
                    ),
                )
            )
    return names, out


def write_vuln_db(
    cache_dir: Path,
    spec: Mapping[str, Any] | str,
    *,
    updated_at: datetime | None = None,
    schema_version: int = 2,
) -> Path:
    """Write `<cache_dir>/db/trivy.db` and `metadata.json` from a spec (a mapping or its YAML text)."""
    data: Mapping[str, Any] = yaml.safe_load(spec) if isinstance(spec, str) else spec
    names, advisories = parse_db_spec(data)
    tree: dict[str, dict[str, Any]] = {name: {} for name in names}
    vulns: dict[str, bytes] = {}
    for os_bucket, adv in advisories:
        vendor = os_bucket.split()[0]
        record: dict[str, Any] = {"FixedVersion": adv.fixed, "VendorIDs": [], "Severity": _SEVERITY[adv.severity]}
        if adv.status:
            record["Status"] = _STATUS[adv.status]
        tree[os_bucket].setdefault(adv.package, {})[adv.id] = json.dumps(record).encode()
        vulns[adv.id] = json.dumps(
            {
                "Title": adv.title,
                "Description": f"{adv.title} (fixture)",
                "Severity": adv.severity,
                "VendorSeverity": {vendor: _SEVERITY[adv.severity]},
                "References": [f"https://security.example.net/{adv.id}"],
            }
        ).encode()
    full: dict[str, Any] = dict(tree)
    full["vulnerability"] = vulns
    full["data-source"] = {
        name: json.dumps(_DATA_SOURCES[name.split()[0]]).encode() for name in names if name.split()[0] in _DATA_SOURCES
    }
    db_dir = cache_dir / "db"
    write_bolt(db_dir / "trivy.db", full)
    write_metadata(db_dir, updated_at=updated_at, schema_version=schema_version)
    return db_dir


def write_metadata(db_dir: Path, *, updated_at: datetime | None = None, schema_version: int = 2) -> None:
    updated = updated_at or datetime.now(UTC)
    stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
    meta = {
        "Version": schema_version,
        "NextUpdate": (updated + timedelta(hours=24)).strftime(stamp),
        "UpdatedAt": updated.strftime(stamp),
        "DownloadedAt": updated.strftime(stamp),
    }
    db_dir.mkdir(parents=True, exist_ok=True)
    (db_dir / "metadata.json").write_text(json.dumps(meta))


# ---------------------------------------------------------------- images


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    source: str | None = None  # Debian source package / Alpine origin; default: the binary name


def _tar_bytes(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def debian_files(version: str, packages: Sequence[Package]) -> dict[str, bytes]:
    stanzas = []
    for pkg in packages:
        lines = [f"Package: {pkg.name}", "Status: install ok installed", "Architecture: amd64"]
        if pkg.source and pkg.source != pkg.name:
            lines.append(f"Source: {pkg.source}")
        lines += [f"Version: {pkg.version}", "Maintainer: Debian Maintainers <debian@lists.debian.org>"]
        stanzas.append("\n".join(lines) + "\n")
    return {
        "etc/debian_version": f"{version}\n".encode(),
        "etc/os-release": f'PRETTY_NAME="Debian GNU/Linux {version.split(".", maxsplit=1)[0]}"\nID=debian\n'.encode(),
        "var/lib/dpkg/status": "\n".join(stanzas).encode(),
    }


def alpine_files(version: str, packages: Sequence[Package]) -> dict[str, bytes]:
    stanzas = [f"P:{pkg.name}\nV:{pkg.version}\nA:x86_64\no:{pkg.source or pkg.name}\nL:MIT\n" for pkg in packages]
    return {
        "etc/alpine-release": f"{version}\n".encode(),
        "etc/os-release": f"ID=alpine\nVERSION_ID={version}\n".encode(),
        "lib/apk/db/installed": "\n".join(stanzas).encode(),
    }


def write_docker_archive(path: Path, files: Mapping[str, bytes]) -> str:
    """Write a one-layer docker-archive tarball holding `files`; return the image ID (`sha256:` of the config)."""
    layer = _tar_bytes(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": None, "Layers": ["layer.tar"]}]).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_tar_bytes({"manifest.json": manifest, f"{config_hex}.json": config, "layer.tar": layer}))
    return f"sha256:{config_hex}"


# ---------------------------------------------------------------- a whole fixture world from one YAML file


@dataclass(frozen=True)
class FixtureImage:
    ref: str
    archive: Path
    image_id: str
    expect: tuple[tuple[str, str, str, str], ...]  # (id, package, status, severity)


def image_files(os_release: str, packages: Sequence[Package]) -> dict[str, bytes]:
    family, version = os_release.split()
    if family == "debian":
        return debian_files(version, packages)
    if family == "alpine":
        return alpine_files(version, packages)
    raise ValueError(f"unsupported fixture OS {os_release!r}")


def build_world(spec_path: Path, cache_dir: Path, image_dir: Path) -> list[FixtureImage]:
    """Write the DB into `cache_dir` and every image into `image_dir`, named the way `ImageSource` looks them up."""
    spec = yaml.safe_load(spec_path.read_text())
    write_vuln_db(cache_dir, spec["db"])
    images = []
    for entry in spec["images"]:
        packages = [Package(p["name"], str(p["version"]), p.get("source")) for p in entry["packages"]]
        flat = entry["ref"].replace("/", "_").replace(":", "_").replace("@", "_")
        archive = image_dir / f"{flat}.tar"
        image_id = write_docker_archive(archive, image_files(entry["os"], packages))
        expect = tuple(sorted((e["id"], e["package"], e["status"], e["severity"]) for e in entry["expect"]))
        images.append(FixtureImage(ref=entry["ref"], archive=archive, image_id=image_id, expect=expect))
    return images
