"""Shared Rich consoles: results to stdout, messages to stderr; colour only on a terminal."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console

# Off a terminal (CI logs, pipes) Rich assumes 80 columns and truncates table cells such as tool paths and tenant
# names; logs have no width, so give tables room unless the user set COLUMNS.
_LOG_WIDTH = 200


def _width(stream: TextIO) -> int | None:
    return None if stream.isatty() or "COLUMNS" in os.environ else _LOG_WIDTH


out = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))
