"""The tenantforge gate: tool adapters, policy rules and reports over one `Finding` type."""
