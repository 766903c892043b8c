"""Offline stand-ins for the Stripe and Plaid APIs; imports nothing from the project."""
