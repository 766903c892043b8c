"""The Braintree stand-in: Braintree's XML gateway API, its browser side and signed webhooks."""
