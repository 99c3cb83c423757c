"""Errors that mean the gate could not decide (exit 2), as opposed to findings (exit 1)."""

from __future__ import annotations


class GateError(Exception):
    """The gate cannot run or cannot trust a result; the message is one line a user can act on."""


class ToolMissing(GateError):
    """A required external tool was not found."""


class ToolFailed(GateError):
    """An external tool crashed or printed output we cannot parse."""


class ConfigError(GateError):
    """tenantforge.yml (or a command-line option) is invalid."""
