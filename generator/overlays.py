"""Kustomize overlays of a tenant repo: which environments exist, and their image pins (`images:`).

Pins are edited with ruamel.yaml round-trip, and only the `images:` block is re-emitted: it is cut out of the file,
loaded and dumped with the indentation it was written in, and spliced back, so every byte outside the block is
untouched and comments, key order and quoting inside it survive. (Dumping the whole document re-indents every other
list to one style and drops a leading `---`, which a reviewer would then have to read past.)
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from generator.errors import UserError

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PIN_KEYS = ("newName", "newTag", "digest")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


@dataclass(frozen=True)
class ImagePin:
    """One kustomize `images:` entry: the image `name` used in the base, and what it becomes."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None

    @property
    def ref(self) -> str:
        """The image reference the pin renders to."""
        text = self.new_name or self.name
        if self.new_tag:
            text += f":{self.new_tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def same_target(self, other: ImagePin | None) -> bool:
        return other is not None and (self.new_name, self.new_tag, self.digest) == (
            other.new_name,
            other.new_tag,
            other.digest,
        )

    def fields(self) -> dict[str, str]:
        values = {"newName": self.new_name, "newTag": self.new_tag, "digest": self.digest}
        return {k: v for k, v in values.items() if v}


def overlay_dirs(repo: Path) -> dict[str, Path]:
    """`{env: overlays/<env>/}` for every overlay directory that holds a kustomization."""
    root = repo / "overlays"
    found: dict[str, Path] = {}
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir() and kustomization_file(child) is not None:
                found[child.name] = child
    return found


def kustomization_file(overlay: Path) -> Path | None:
    for name in KUSTOMIZATION_NAMES:
        if (overlay / name).is_file():
            return overlay / name
    return None


def parse_image_ref(name: str, ref: str) -> ImagePin:
    """`--image NAME=REF`: REF is `repo[:tag][@sha256:…]`; a registry port (`host:5000/…`) is not a tag."""
    text = ref.strip()
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise UserError(f"--image {name}={ref}: digest {digest!r} is not sha256:<64 lower-case hex digits>")
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.match(tag):
            raise UserError(f"--image {name}={ref}: tag {tag!r} is not a valid image tag")
    if not text or not _NAME.match(text):
        raise UserError(
            f"--image {name}={ref}: {text!r} is not an image repository (lower-case, e.g. registry/path/name)"
        )
    if tag is None and digest is None:
        raise UserError(f"--image {name}={ref}: give a tag (:TAG) or a digest (@sha256:…)")
    return ImagePin(name=name, new_name=text, new_tag=tag, digest=digest)


def _rt_yaml(text: str) -> YAML:
    """A round-trip YAML that writes lists with the indentation `text` already uses."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        _, indent, offset = load_yaml_guess_indent(text)
    except YAMLError:
        indent, offset = None, None
    if indent is None:  # no nested list to learn from: kustomize's own style, `- name:` under the key
        yaml.indent(mapping=2, sequence=2, offset=0)
    else:
        offset = offset or 0
        yaml.indent(mapping=max(2, indent - offset), sequence=indent, offset=offset)
    return yaml


def load_kustomization(path: Path, label: str) -> CommentedMap:
    """The kustomization as a round-trip mapping; bad YAML or a non-mapping is a one-line `UserError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{label}: cannot read ({exc.strerror})") from exc
    return _load_map(text, label)


def _load_map(text: str, label: str) -> CommentedMap:
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid"
        raise UserError(f"{label}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, CommentedMap):
        raise UserError(f"{label}: a kustomization must be a mapping of keys (apiVersion, resources, images, …)")
    return data


def read_pins(data: Mapping[str, Any], label: str) -> dict[str, ImagePin]:
    """The `images:` entries by name; malformed entries are one-line errors naming `images[i]`."""
    images = data.get("images")
    if images is None:
        return {}
    if not isinstance(images, list):
        raise UserError(f"{label}: images must be a list of {{name, newName, newTag, digest}}")
    pins: dict[str, ImagePin] = {}
    for i, entry in enumerate(images):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise UserError(f"{label}: images[{i}] must be a mapping with a name")
        values: dict[str, str | None] = {}
        for key in PIN_KEYS:
            value = entry.get(key)
            if value is not None and not isinstance(value, str):
                raise UserError(f'{label}: images[{i}].{key}: {value!r} must be a string (quote it: {key}: "{value}")')
            values[key] = value or None
        digest = values["digest"]
        if digest is not None and not _DIGEST.match(digest):
            raise UserError(f"{label}: images[{i}].digest: {digest!r} is not sha256:<64 lower-case hex digits>")
        if entry["name"] in pins:
            raise UserError(f"{label}: images[{i}]: {entry['name']!r} is listed twice")
        pins[entry["name"]] = ImagePin(entry["name"], values["newName"], values["newTag"], digest)
    return pins


def _scalar(value: str, like: Any) -> Any:
    """`value` in the quoting style of the scalar it replaces; quoted when plain YAML would not read a string."""
    if isinstance(like, DoubleQuotedScalarString):
        return DoubleQuotedScalarString(value)
    if isinstance(like, SingleQuotedScalarString):
        return SingleQuotedScalarString(value)
    if not isinstance(YAML(typ="safe").load(f"v: {value}")["v"], str):
        return DoubleQuotedScalarString(value)
    return value


def _set_pin(entry: CommentedMap, pin: ImagePin) -> None:
    wanted = pin.fields()
    for key in PIN_KEYS:
        if key in wanted:
            entry[key] = _scalar(wanted[key], entry.get(key))
        elif key in entry:
            del entry[key]


def set_pins(text: str, pins: Iterable[ImagePin], label: str) -> str:
    """`text` (a kustomization) with `pins` written into its `images:` (updated in place, or appended)."""
    data = _load_map(text, label)
    read_pins(data, label)
    pins = list(pins)
    lines = text.splitlines(keepends=True)
    if "images" in data and data["images"] is not None:
        keys = list(data.keys())
        start = data.lc.key("images")[0]
        index = keys.index("images")
        end = data.lc.key(keys[index + 1])[0] if index + 1 < len(keys) else len(lines)
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1  # comments and blank lines just above the next key belong to that key
        block = "".join(lines[start:end])
        if not block.endswith("\n"):
            block += "\n"
        head, tail = "".join(lines[:start]), "".join(lines[end:])
    else:
        block = "images: []\n"
        head = text if text.endswith("\n") or not text else text + "\n"
        head = re.sub(r"(?m)^images:.*\n", "", head)  # an `images:` with no value
        tail = ""
    yaml = _rt_yaml(block if "images" in data and data["images"] is not None else text)
    sub = yaml.load(block)
    seq = sub["images"]
    if not isinstance(seq, CommentedSeq):
        seq = CommentedSeq()
        sub["images"] = seq
    if not seq and seq.fa.flow_style():
        seq.fa.set_block_style()
    by_name = {entry["name"]: entry for entry in seq}
    for pin in pins:
        entry = by_name.get(pin.name)
        if entry is None:
            entry = CommentedMap([("name", pin.name)])
            seq.append(entry)
            by_name[pin.name] = entry
        _set_pin(entry, pin)
    out = io.StringIO()
    yaml.dump(sub, out)
    return head + out.getvalue() + tail
