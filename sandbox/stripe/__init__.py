"""The Stripe stand-in: Stripe's v1 wire format, test cards, Elements stand-in and webhooks."""
