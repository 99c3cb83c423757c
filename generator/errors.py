"""Errors the CLI turns into one-line messages (see generator.cli.main)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused operation; the message says what is wrong and what is allowed."""
