"""What every browser test module marks itself with."""

from __future__ import annotations

import pytest

# The live server and Playwright run the pages on other threads and greenlets, each with its own
# Django connection objects. Django's "queries to <alias> are not allowed" guard, put on every
# alias a test does not list, was then taken off a different object than it was put on, and
# stayed on the `reports` alias for the tests after. Listing every alias puts no guard on.
BROWSER_TEST = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]
