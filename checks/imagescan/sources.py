"""Where image bytes come from offline: a directory of `docker save` tarballs, named by digest or by reference.

For a reference `R` the directory is searched for, in order:
1. `sha256-<hex>.tar` / `.tar.gz` when `R` is pinned by digest (`…@sha256:<hex>`),
2. `<R with '/', ':' and '@' replaced by '_'>.tar` / `.tar.gz` (`docker save -o "$(echo R | tr '/:@' '___').tar" R`).
An image that is not there is a scan-error unless pulling is on (`image_scan.pull: true`), in which case trivy
pulls it from its registry itself — offline, that fails, and that failure is the scan-error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from checks.adapters.trivy_image import ScanError, ScanTarget, archive_digest
from checks.imagescan.refs import ImageRef

_SUFFIXES = (".tar", ".tar.gz")


def flat_name(ref: str) -> str:
    return ref.replace("/", "_").replace(":", "_").replace("@", "_")


@dataclass(frozen=True)
class ImageSource:
    image_dir: Path | None = None
    pull: bool = False

    def candidates(self, ref: str) -> list[Path]:
        if self.image_dir is None:
            return []
        parsed = ImageRef.parse(ref)
        stems = []
        digest = parsed.pinned_digest
        if digest:
            stems.append(digest.replace(":", "-", 1))
        stems.append(flat_name(ref))
        return [self.image_dir / f"{stem}{suffix}" for stem in stems for suffix in _SUFFIXES]

    def locate(self, ref: str) -> ScanTarget:
        """The scan target for `ref`, or a `ScanError` saying where it was looked for."""
        candidates = self.candidates(ref)
        for path in candidates:
            if path.is_file():
                return ScanTarget(ref=ref, archive=path, key=archive_digest(path))
        if self.pull:
            return ScanTarget(ref=ref, archive=None, key=ImageRef.parse(ref).pinned_digest)
        if self.image_dir is None:
            where = "no image directory is configured (--image-dir or image_scan.image_dir)"
        else:
            names = ", ".join(sorted({p.name for p in candidates}))
            where = f"not in {self.image_dir} (looked for {names})"
        raise ScanError(
            f"image {ref} is not available offline: {where}, and pulling is off (image_scan.pull); "
            f"save it with `docker save -o {flat_name(ref)}.tar {ref}` into the image directory"
        )
