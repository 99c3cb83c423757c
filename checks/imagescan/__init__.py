"""The image stage of the gate: which images the rendered overlays run, where their bytes come from offline,
and what `trivy image` finds in them, as `Finding`s."""
