"""Stripe API resources: each module lists its routes in ROUTES."""
