"""Payment methods: single-use nonces (static test nonces and the card form's), vaulted cards.

A nonce is what the browser side (Hosted Fields / Drop-in, `browser.py`) hands the merchant in
exchange for the card number; it lives three hours and can be used once, as at Braintree.
"""

from __future__ import annotations

from sandbox.braintree import cards, errors
from sandbox.braintree.call import Call, section, text
from sandbox.braintree.errors import invalid
from sandbox.braintree.store import JSON, BraintreeStore, random_id

NONCE_SECONDS = 3 * 3600


def nonce_create(store: BraintreeStore, card: cards.Card, now: float) -> str:
    nonce = f"tokencc_sb_{random_id(6)}_{random_id(6)}_{random_id(6)}_{random_id(6)}_{random_id(3)}"
    store.nonces[nonce] = {"card": card.to_json(), "created_at": now, "consumed": False}
    return nonce


def nonce_card(call: Call, nonce: str, path: tuple[str, ...]) -> JSON:
    """Consume a nonce and return its card (as JSON); unknown / used nonces are 915xx errors."""
    if nonce == cards.CONSUMED_NONCE:
        raise invalid(
            path,
            "payment_method_nonce",
            errors.PAYMENT_METHOD_NONCE_CONSUMED,
            "Cannot use a payment_method_nonce more than once.",
        )
    if nonce == cards.LUHN_INVALID_NONCE:
        raise invalid(
            (*path, "credit_card"),
            "number",
            errors.CARD_NUMBER_IS_INVALID,
            "Credit card number is invalid.",
        )
    static = cards.STATIC_NONCES.get(nonce)
    if static is not None:
        return static.to_json()
    record = call.store.nonces.get(nonce)
    if record is None or record["created_at"] + NONCE_SECONDS < call.now:
        raise invalid(
            path,
            "payment_method_nonce",
            errors.PAYMENT_METHOD_NONCE_UNKNOWN,
            "Unknown payment_method_nonce.",
        )
    if record["consumed"]:
        raise invalid(
            path,
            "payment_method_nonce",
            errors.PAYMENT_METHOD_NONCE_CONSUMED,
            "Cannot use a payment_method_nonce more than once.",
        )
    record["consumed"] = True
    return dict(record["card"])


def raw_card(params: JSON, path: tuple[str, ...]) -> JSON:
    """A card sent as numbers (server-side card data): test numbers only, as in the sandbox."""
    card_path = (*path, "credit_card")
    number = (text(params, "number", card_path) or "").replace(" ", "")
    month = text(params, "expiration_month", card_path)
    year = text(params, "expiration_year", card_path)
    date = text(params, "expiration_date", card_path)
    if date and "/" in date:
        month, year = date.split("/", 1)
    if not (month and year and month.isdigit() and year.isdigit() and 1 <= int(month) <= 12):
        raise invalid(
            card_path,
            "expiration_date",
            errors.CARD_EXPIRATION_DATE_IS_INVALID,
            "Expiration date is invalid.",
        )
    year = year if len(year) == 4 else f"20{year[-2:]}"
    card = cards.card_from_number(number, f"{int(month):02d}", year)
    if card == "invalid":
        raise invalid(
            card_path, "number", errors.CARD_NUMBER_IS_INVALID, "Credit card number is invalid."
        )
    if isinstance(card, str):
        raise invalid(
            card_path,
            "number",
            errors.CARD_NUMBER_MUST_BE_TEST_NUMBER,
            "Credit card number must be a test number in the sandbox.",
        )
    return card.to_json()


def vault(call: Call, customer_id: str, card: JSON, *, make_default: bool = False) -> JSON:
    """Store a card for a customer; its first card (or `make_default`) becomes the default."""
    customer = call.store.customers[customer_id]
    token = random_id(7)
    while token in call.store.payment_methods:
        token = random_id(7)
    first = not customer["payment_method_tokens"]
    if make_default:
        for other in customer["payment_method_tokens"]:
            call.store.payment_methods[other]["default"] = False
    method = {
        "token": token,
        "customer_id": customer_id,
        "card": {**card, "three_d_secure": None},
        "default": first or make_default,
        "created_at": call.now,
        "updated_at": call.now,
    }
    call.store.payment_methods[token] = method
    customer["payment_method_tokens"].append(token)
    customer["updated_at"] = call.now
    return method


def resolve(call: Call, params: JSON, path: tuple[str, ...]) -> tuple[JSON, str | None]:
    """The card a sale or customer call names: (card JSON, vault token or None)."""
    nonce = text(params, "payment_method_nonce", path, max_length=200)
    token = text(params, "payment_method_token", path, max_length=64)
    raw = section(params, "credit_card", path)
    given = [name for name, value in (("nonce", nonce), ("token", token), ("card", raw)) if value]
    if len(given) > 1:
        raise invalid(
            path,
            "base",
            errors.PAYMENT_METHOD_CONFLICT,
            "Cannot provide more than one of payment_method_nonce, payment_method_token or "
            "credit_card.",
        )
    if nonce:
        return nonce_card(call, nonce, path), None
    if token:
        method = call.store.payment_methods.get(token)
        if method is None:
            raise invalid(
                path,
                "payment_method_token",
                errors.PAYMENT_METHOD_TOKEN_IS_INVALID,
                "Payment method token is invalid.",
            )
        return dict(method["card"]), token
    if raw:
        return raw_card(raw, path), None
    raise invalid(
        path, "base", errors.CREDIT_CARD_IS_REQUIRED, "Credit card or payment method is required."
    )
