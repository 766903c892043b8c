"""`run_sandbox`."""
