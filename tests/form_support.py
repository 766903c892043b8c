"""Reading a rendered money form's one-time `submission_token`, as a browser would post it."""

from __future__ import annotations

import html
import re

from django.test import Client


def submission_token(page: str, action: str) -> str:
    """The token inside the form that posts to `action` on the rendered `page`."""
    forms = re.findall(r"<form\b[^>]*>.*?</form>", page, re.S)
    for form in forms:
        if re.search(rf'action="{re.escape(action)}"', form):
            found = re.search(r'name="submission_token" value="([^"]+)"', form)
            assert found is not None, f"the form posting to {action} has no submission token"
            return html.unescape(found.group(1))
    raise AssertionError(f"no form posts to {action}")


def form_fields(client: Client, page_url: str, action: str, **fields: str) -> dict[str, str]:
    """The fields a person submits: what they typed plus the token the page rendered."""
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    return {**fields, "submission_token": submission_token(page.content.decode(), action)}
