"""Run one Copier operation in a child process: `python -m generator.fleet.copier_worker REQUEST.json`.

Copier changes the process working directory and environment while it works (plumbum's `local.cwd` is `os.chdir`),
so two updates in threads of one process would write into each other's trees. The fleet therefore runs every Copier
call in its own process, through the Copier API, and reads a JSON result file written here: the kind of failure
and its message, never a traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any


def _update(req: dict[str, Any]) -> dict[str, Any]:
    from copier import run_update

    run_update(
        dst_path=req["dst"],
        answers_file=req["answers_file"],
        vcs_ref=req["vcs_ref"],
        overwrite=True,
        conflict="inline",
        defaults=True,
        skip_answered=True,
        quiet=True,
        unsafe=bool(req.get("trust")),
    )
    return {}


def _render(req: dict[str, Any]) -> dict[str, Any]:
    """Render `src` at `vcs_ref` with the given answers into `dst`; report the template's `_skip_if_exists`."""
    from copier import run_copy

    worker = run_copy(
        src_path=req["src"],
        dst_path=req["dst"],
        data=req["answers"],
        answers_file=req["answers_file"],
        vcs_ref=req["vcs_ref"],
        defaults=True,
        overwrite=True,
        quiet=True,
        skip_tasks=True,
        unsafe=bool(req.get("trust")),
    )
    return {"skip_if_exists": list(worker.template.skip_if_exists)}


_OPERATIONS = {"update": _update, "render": _render}


def main(argv: list[str]) -> int:
    request_path = Path(argv[1])
    req: dict[str, Any] = json.loads(request_path.read_text())
    result_path = Path(req["result"])
    try:
        result: dict[str, Any] = {"ok": True, **_OPERATIONS[req["op"]](req)}
    except BaseException as exc:
        from copier.errors import TaskError, UnsafeTemplateError, UserMessageError

        if isinstance(exc, TaskError):
            kind = "task"
            message = f"command {exc.cmd!r} exited {exc.returncode}"
        elif isinstance(exc, UnsafeTemplateError):
            kind = "unsafe"
            message = str(exc)
        elif isinstance(exc, UserMessageError):
            kind = "refused"
            message = str(exc)
        elif isinstance(exc, ValueError | TypeError | OSError):
            kind = "error"
            message = f"{type(exc).__name__}: {exc}"
        else:
            kind = "crash"
            message = f"{type(exc).__name__}: {exc}"
        result = {"ok": False, "kind": kind, "message": " ".join(message.split()), "trace": traceback.format_exc()}
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
