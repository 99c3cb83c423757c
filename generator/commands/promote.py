"""`tenantforge promote`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer._click.core import Context
from typer.core import TyperCommand

from generator.commands.check import IMAGE_DIR_OPTION, PULL_OPTION
from generator.console import err, out
from generator.errors import UserError
from generator.mergerequest import PROVIDERS
from generator.promote import GateFailed, GateUndecided, PromoteRequest, failing_findings, promote

MAX_SHOWN_FINDINGS = 20


class _OptionalPushValue(TyperCommand):
    """Lets `--push` stand alone (remote `origin`) or take a remote name, as `--push [REMOTE]` promises.

    Typer's parser has no options with an optional value (click's `flag_value`), so a bare `--push` (last, or
    followed by another option) is rewritten to `--push=origin` before parsing.
    """

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        fixed: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                fixed.extend(args[i:])
                break
            following = args[i + 1] if i + 1 < len(args) else None
            bare = arg == "--push" and (following is None or following.startswith("-"))
            fixed.append("--push=origin" if bare else arg)
        result: list[str] = super().parse_args(ctx, fixed)
        return result


def _image_option(values: list[str]) -> tuple[tuple[str, str | None], ...]:
    parsed: list[tuple[str, str | None]] = []
    for value in values:
        name, sep, ref = value.partition("=")
        if not name.strip() or (sep and not ref.strip()):
            raise UserError(f"--image {value!r}: expected NAME=REF (e.g. odoo=registry/odoo@sha256:…) or NAME")
        parsed.append((name.strip(), ref.strip() if sep else None))
    return tuple(parsed)


def promote_command(  # noqa: PLR0917 (typer maps parameters to options)
    repo: Path = typer.Argument(Path("."), help="The tenant repository (default: the current directory)."),
    source: str = typer.Option(..., "--from", help="Environment (overlay) whose image pins are promoted."),
    target: str = typer.Option(..., "--to", help="Environment (overlay) that receives them."),
    image: list[str] = typer.Option(
        [],
        "--image",
        metavar="NAME[=REF]",
        help="Promote only this image: its pin in --from, or REF (repo:tag, repo@sha256:…). Repeatable.",
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why; recorded in the commit and the merge request."),
    emergency: bool = typer.Option(
        False, "--emergency", help="Promote inside an active freeze window (needs --reason; recorded)."
    ),
    branch: str | None = typer.Option(None, "--branch", help="Branch to commit on (default promote/<to>/<id>)."),
    push: str | None = typer.Option(
        None, "--push", metavar="[REMOTE]", help="Push the branch (never forced) to REMOTE (default origin)."
    ),
    open_mr: str | None = typer.Option(
        None, "--open-mr", metavar="github|gitlab", help="Open (or reuse) a pull/merge request for the branch."
    ),
    project: str | None = typer.Option(
        None, "--project", help="OWNER/NAME or GitLab project id (default: from CI variables or the remote URL)."
    ),
    api_url: str | None = typer.Option(
        None, "--api-url", help="REST API base (default: GITHUB_API_URL / CI_API_V4_URL, else the public service)."
    ),
    api_timeout: float = typer.Option(30.0, "--api-timeout", min=0.1, help="Seconds to wait for the REST API."),
    skip_image_scan: bool = typer.Option(
        False,
        "--skip-image-scan",
        help="Gate without trivy image (recorded in the commit as Gate-Image-Scan: skipped).",
    ),
    image_dir: Path | None = IMAGE_DIR_OPTION,
    pull: bool | None = PULL_OPTION,
    config: Path | None = typer.Option(
        None, "--config", help="tenantforge.yml to use (default: <repo>/tenantforge.yml)."
    ),
    schemas_dir: str | None = typer.Option(None, "--schemas-dir", help="CRD schema directory or URL template."),
) -> None:
    """Promote image pins from one environment to another as a gated commit on a new branch."""
    if open_mr is not None and open_mr not in PROVIDERS:
        raise UserError(f"--open-mr {open_mr!r}: use one of {', '.join(PROVIDERS)}")
    request = PromoteRequest(
        repo=repo,
        source=source,
        target=target,
        images=_image_option(image),
        reason=reason,
        emergency=emergency,
        branch=branch,
        push=push,
        open_mr=open_mr,
        mr_project=project,
        api_url=api_url,
        api_timeout=api_timeout,
        scan_images=not skip_image_scan,
        image_dir=image_dir,
        pull_images=pull,
        config_path=config,
        schemas_dir=schemas_dir,
    )
    try:
        result = promote(request, log=lambda line: out.print(line, markup=False))
    except (GateFailed, GateUndecided) as exc:
        _show_findings(exc.result)
        raise
    if result.status != "noop" and result.branch:
        out.print(f"done: review and merge {result.branch} to promote {source} -> {target}", markup=False)


def _show_findings(result: Any) -> None:
    failing = failing_findings(result)
    for finding in failing[:MAX_SHOWN_FINDINGS]:
        where = f" ({finding.file}:{finding.line})" if finding.file and finding.line else ""
        resource = f" {finding.resource}" if finding.resource else ""
        err.print(
            f"  {finding.severity.label} {finding.rule_id} [{finding.env or '-'}]{resource}: {finding.message}{where}",
            markup=False,
        )
    if len(failing) > MAX_SHOWN_FINDINGS:
        err.print(f"  … and {len(failing) - MAX_SHOWN_FINDINGS} more (run `tenantforge check` for all)", markup=False)


def register(app: typer.Typer) -> None:
    app.command("promote", cls=_OptionalPushValue)(promote_command)
