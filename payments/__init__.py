"""Stripe card payments: customers, payments, refunds, payment links and their API."""
