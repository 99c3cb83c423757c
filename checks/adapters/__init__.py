"""One module per external tool the gate runs."""
