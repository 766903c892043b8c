"""QR codes for TOTP enrollment, rendered on the server as inline SVG.

The provisioning URI holds the TOTP secret, so it must never leave for a third-party QR
service, and the strict CSP allows no inline script: plain SVG markup needs neither.
"""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def qr_svg(data: str, *, label: str) -> SafeString:
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathFillImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=4,
    )
    svg = image.to_string(encoding="unicode")
    # The markup comes from the qrcode library (a rect and a path); the label is escaped.
    accessible = svg.replace(
        "<svg ", f'<svg role="img" aria-label="{escape(label)}" class="qr" ', 1
    )
    return mark_safe(accessible)  # noqa: S308
