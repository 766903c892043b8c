"""The Plaid stand-in: Plaid's JSON API, a Link stand-in and signed webhooks (docs/sandbox.md)."""
