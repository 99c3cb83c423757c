"""Maintain examples/: `seal` fills each answers file's `sealed:` with real kubeseal ciphertext made with a
throwaway key pair whose private key is deleted right away; `render` re-renders examples/rendered/<tenant>/.

    .venv/bin/python scripts/examples.py seal      # only when an example needs new secrets
    .venv/bin/python scripts/examples.py render    # after every blueprint change (a test checks they are in sync)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import EXAMPLES, blueprint_repo, make_cert, render_example, seal_answers  # noqa: E402


def seal_examples() -> None:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(Path(tmp))
        key.unlink()
        for path in sorted(EXAMPLES.glob("*.yml")):
            data = yaml.load(path.read_text())
            sealed = seal_answers(dict(data), cert)["sealed"]
            data["sealed"] = sealed
            with path.open("w") as fh:
                yaml.dump(data, fh)
            print(f"sealed {path.name}")


def render_examples() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = blueprint_repo(Path(tmp) / "blueprint")
        for path in sorted(EXAMPLES.glob("*.yml")):
            target = EXAMPLES / "rendered" / path.stem
            staging = Path(tmp) / path.stem
            render_example(path, staging, source)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(staging, target)
            print(f"rendered {target.relative_to(ROOT)}")


if __name__ == "__main__":
    actions = {"seal": seal_examples, "render": render_examples}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        sys.exit(f"usage: {sys.argv[0]} seal|render")
    actions[sys.argv[1]]()
