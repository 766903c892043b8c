"""Bank linking through Plaid, micro-deposit fallback and the encrypted token vault."""
