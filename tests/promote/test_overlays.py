"""generator.overlays: image pins read and written in place; every byte outside `images:` survives."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks.tools import require_tool
from generator.errors import UserError
from generator.overlays import ImagePin, _load_map, overlay_dirs, parse_image_ref, read_pins, set_pins
from tests.helpers import write_tree

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

PROD = f"""\
# prod overlay: pinned by digest only
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: acme-shop-prod
resources: [../../base]
images:
  # the web and cron image move together
  - name: odoo
    newName: "registry.example.net/retail/odoo"
    digest: {D1}  # promoted 2026-11-01
  - name: redis
    newTag: '7.4'
patches:
- path: replicas.yaml
  target: {{kind: Deployment, name: odoo-web}}
"""


def pins(text: str) -> dict[str, ImagePin]:
    return read_pins(_load_map(text, "k.yaml"), "k.yaml")


def test_only_the_changed_value_changes_and_comments_quotes_and_styles_survive() -> None:
    out = set_pins(PROD, [ImagePin("odoo", "registry.example.net/retail/odoo", None, D2)], "k.yaml")
    assert out == PROD.replace(D1, D2)


def test_a_tag_pin_becomes_a_digest_pin_and_new_images_are_appended_in_the_same_style() -> None:
    out = set_pins(
        PROD,
        [ImagePin("redis", "registry.example.net/retail/redis", "7.4", D2), ImagePin("odoo-cron", None, "17.0")],
        "k.yaml",
    )
    expected = PROD.replace(
        "    newTag: '7.4'\n",
        f"    newTag: '7.4'\n    newName: registry.example.net/retail/redis\n    digest: {D2}\n"
        '  - name: odoo-cron\n    newTag: "17.0"\n',
    )
    assert out == expected
    assert pins(out)["odoo-cron"].new_tag == "17.0", "a tag that reads as a number is quoted"
    assert set_pins(out, pins(out).values(), "k.yaml") == out, "writing what is there changes nothing"


def test_keys_the_source_lacks_are_removed() -> None:
    out = set_pins(PROD, [ImagePin("odoo", None, "17.0-20261101", None)], "k.yaml")
    odoo = pins(out)["odoo"]
    assert (odoo.new_name, odoo.new_tag, odoo.digest) == (None, "17.0-20261101", None)
    assert "# promoted 2026-11-01" not in out  # it was the digest's comment, and the digest is gone
    assert out.count("\n") == PROD.count("\n") - 1


def test_images_block_is_added_at_the_end_in_the_files_indentation() -> None:
    text = "---\nresources:\n  - ../../base\n# the end\n"
    out = set_pins(text, [ImagePin("odoo", "registry.example.net/retail/odoo", None, D2)], "k.yaml")
    assert out == text + f"images:\n  - name: odoo\n    newName: registry.example.net/retail/odoo\n    digest: {D2}\n"


def test_flow_style_images_stay_flow_style() -> None:
    text = "resources: [../../base]\nimages: [{name: odoo, newTag: '1.0'}]\nnamespace: x\n"
    out = set_pins(text, [ImagePin("odoo", None, "1.1")], "k.yaml")
    assert out == "resources: [../../base]\nimages: [{name: odoo, newTag: '1.1'}]\nnamespace: x\n"


def test_edited_overlay_renders_the_promoted_references_with_real_kustomize(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [deploy.yaml]\n",
            "base/deploy.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: odoo-web}\nspec:\n"
                "  selector: {matchLabels: {app: odoo}}\n  template:\n    metadata: {labels: {app: odoo}}\n"
                "    spec:\n      containers:\n      - {name: odoo, image: odoo}\n      - {name: redis, image: redis}\n"
            ),
            "overlays/prod/kustomization.yaml": PROD.replace("patches:\n- path: replicas.yaml\n", "patches: []\n")
            .replace("  target: {kind: Deployment, name: odoo-web}\n", "")
            .replace("namespace: acme-shop-prod\n", ""),
        },
    )
    path = tmp_path / "overlays/prod/kustomization.yaml"
    path.write_text(
        set_pins(
            path.read_text(),
            [ImagePin("odoo", "registry.example.net/retail/odoo", None, D2), ImagePin("redis", None, "7.4", D1)],
            "k.yaml",
        )
    )
    assert list(overlay_dirs(tmp_path)) == ["prod"]
    built = subprocess.run(
        [str(require_tool("kustomize")), "build", str(path.parent)], capture_output=True, text=True, check=True
    ).stdout
    assert f"image: registry.example.net/retail/odoo@{D2}" in built
    assert f"image: redis:7.4@{D1}" in built


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images: {odoo: x}\n", "k.yaml: images must be a list of {name, newName, newTag, digest}"),
        ("images:\n- newTag: x\n", "k.yaml: images[0] must be a mapping with a name"),
        ("images:\n- name: odoo\n  newTag: 17.0\n", "k.yaml: images[0].newTag: 17.0 must be a string (quote it"),
        ("images:\n- name: odoo\n  digest: sha256:abc\n", "k.yaml: images[0].digest: 'sha256:abc' is not sha256:"),
        ("images:\n- name: a\n- name: a\n", "k.yaml: images[1]: 'a' is listed twice"),
        ("- a\n- b\n", "k.yaml: a kustomization must be a mapping"),
        ("images: [\n", "k.yaml: not valid YAML at line 2"),
    ],
)
def test_malformed_kustomizations_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        set_pins(text, [ImagePin("odoo", None, "1")], "k.yaml")
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("ref", "pin"),
    [
        (f"registry.example.net/retail/odoo@{D1}", ImagePin("odoo", "registry.example.net/retail/odoo", None, D1)),
        (f"registry.example.net:5000/odoo:17.0@{D1}", ImagePin("odoo", "registry.example.net:5000/odoo", "17.0", D1)),
        ("registry.example.net:5000/odoo:17.0", ImagePin("odoo", "registry.example.net:5000/odoo", "17.0")),
    ],
)
def test_image_references(ref: str, pin: ImagePin) -> None:
    assert parse_image_ref("odoo", ref) == pin
    assert pin.ref == ref


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("registry.example.net:5000/odoo", "give a tag (:TAG) or a digest"),
        ("odoo@sha256:xyz", "digest 'sha256:xyz' is not sha256:<64"),
        ("Registry/ODOO:1", "'Registry/ODOO' is not an image repository"),
        ("odoo:bad tag!", "tag 'bad tag!' is not a valid image tag"),
    ],
)
def test_bad_image_references(ref: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_image_ref("odoo", ref)
