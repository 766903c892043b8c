"""Banking REST API under /api/v1/: bank-link sessions and bank accounts."""
