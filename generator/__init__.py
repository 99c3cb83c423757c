"""tenantforge: scaffold, gate and roll out GitOps repositories for Odoo tenants."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tenantforge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
