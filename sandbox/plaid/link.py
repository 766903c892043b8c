"""The Plaid Link stand-in: the script pages load, the modal it opens, and the modal's backend.

`/link/v2/stable/link-initialize.js` defines `Plaid.create(...)` like Plaid's script;
`open()` shows `/plaid/link` in a full-page iframe on the sandbox origin. That page talks only
to `/plaid/link/api/<step>` (same origin) and, when done, hands the opening page the public
token and non-sensitive metadata by `postMessage` to the page's origin only. Credentials,
account and routing numbers and micro-deposit codes never reach the opening page.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from sandbox.plaid import errors, items
from sandbox.plaid.errors import PlaidError
from sandbox.plaid.institutions import INSTITUTIONS, AccountTemplate
from sandbox.plaid.store import JSON
from sandbox.wire import Request, Response, json_response, text_response

if TYPE_CHECKING:
    from sandbox.plaid.provider import PlaidProvider

SCRIPT_PATH = "/link/v2/stable/link-initialize.js"
MODAL_PATH = "/plaid/link"
API_PREFIX = "/plaid/link/api/"
SESSION_SECONDS = 30 * 60


@cache
def asset(name: str) -> str:
    return (resources.files("sandbox.plaid") / "assets" / name).read_text(encoding="utf-8")


def handles(path: str) -> bool:
    return path in (SCRIPT_PATH, MODAL_PATH) or path.startswith(API_PREFIX)


@dataclass
class Session:
    link_session_id: str
    link_token: str
    mode: str  # "new", "update" (re-login to an Item) or "verify" (same-day code)
    item_id: str | None
    expires: int
    institution_id: str | None = None
    username: str = ""
    method: str = ""
    template: AccountTemplate | None = None
    # Update mode with Account Select (`update.account_selection_enabled`): after the login,
    # the customer chooses which of the Item's accounts are shared.
    account_selection: bool = False
    logged_in: bool = False
    done: bool = False


@dataclass
class Sessions:
    """Link sessions live in memory: a restarted sandbox starts Link again, as Plaid would."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    by_id: dict[str, Session] = field(default_factory=dict)

    def add(self, session: Session) -> None:
        with self.lock:
            self.by_id[session.link_session_id] = session

    def get(self, session_id: Any, now: int) -> Session:
        with self.lock:
            session = self.by_id.get(session_id) if isinstance(session_id, str) else None
        if session is None or session.expires < now or session.done:
            raise errors.invalid_input(
                "INVALID_LINK_TOKEN", "this Link session has ended; open Link again"
            )
        return session

    def reset(self) -> None:
        with self.lock:
            self.by_id.clear()


def _field(payload: JSON, name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise errors.invalid_request("MISSING_FIELDS", f"{name} is required")
    return value.strip()


def _account_view(account: JSON) -> JSON:
    """What Link's onSuccess metadata shows for an account: never its full numbers."""
    return {
        "id": account["account_id"],
        "name": account["name"],
        "mask": account["mask"],
        "type": account["type"],
        "subtype": account["subtype"],
        "verification_status": account["verification_status"],
        "class_type": None,
    }


def _complete(provider: PlaidProvider, session: Session, item: JSON, now: int) -> JSON:
    session.done = True
    accounts = [_account_view(a) for a in item["accounts"]]
    institution = (
        {"name": item["institution_name"], "institution_id": item["institution_id"]}
        if item["institution_id"]
        else None
    )
    return {
        "done": True,
        "public_token": items.public_token(provider.store, item, now),
        "metadata": {
            "institution": institution,
            "accounts": accounts,
            "account": accounts[0] if accounts else None,
            "account_id": accounts[0]["id"] if accounts else None,
            "link_session_id": session.link_session_id,
            "transfer_status": None,
        },
    }


def _start(provider: PlaidProvider, payload: JSON, now: int) -> JSON:
    value = _field(payload, "link_token")
    config = provider.store.link_tokens.get(value)
    if config is None or config["expires"] < now:
        raise errors.invalid_input(
            "INVALID_LINK_TOKEN", "the link token is invalid or expired; create a new one"
        )
    item = provider.store.items.get(config["item_id"]) if config["item_id"] else None
    if config["item_id"] and item is None:
        raise errors.item_not_found()
    manual = (
        next(
            (
                a
                for a in item["accounts"]
                if a["verification_status"]
                in ("pending_manual_verification", "verification_failed")
            ),
            None,
        )
        if item
        else None
    )
    mode = "verify" if manual else ("update" if item else "new")
    session = Session(
        link_session_id=str(uuid.uuid4()),
        link_token=value,
        mode=mode,
        item_id=item["item_id"] if item else None,
        expires=now + SESSION_SECONDS,
        institution_id=item["institution_id"] if item else None,
        account_selection=mode == "update" and bool(config.get("account_selection")),
    )
    provider.sessions.add(session)
    answer: JSON = {
        "link_session_id": session.link_session_id,
        "mode": mode,
        "client_name": config["client_name"],
        "institutions": [i.to_json() for i in INSTITUTIONS.values()],
        "same_day": config["same_day_microdeposits"],
        "account_selection": session.account_selection,
    }
    if item and item["institution_id"]:
        answer["institution"] = INSTITUTIONS[item["institution_id"]].to_json()
    if manual:
        answer["account"] = {
            "name": manual["name"],
            "mask": manual["mask"],
            "verification_status": manual["verification_status"],
            "attempts_left": manual["attempts_left"] or 0,
        }
    return answer


def _login(provider: PlaidProvider, session: Session, payload: JSON, now: int) -> JSON:
    config = provider.store.link_tokens[session.link_token]
    inst = items.institution(_field(payload, "institution_id"))
    if session.mode == "update" and inst.institution_id != session.institution_id:
        raise errors.invalid_request(
            "INVALID_FIELD", "update mode logs in to the Item's own institution"
        )
    username = _field(payload, "username")
    method = items.check_login(
        inst, username, _field(payload, "password"), automated=config["automated_microdeposits"]
    )
    if session.mode == "update":
        # Update mode repairs the same Item: same item_id, same accounts, nothing duplicated.
        item = provider.store.items.get(session.item_id or "")
        if item is None:
            raise errors.item_not_found()
        if item["error"] is not None and item["error"]["error_code"] == "ITEM_LOGIN_REQUIRED":
            items.fire(item, "ITEM", "LOGIN_REPAIRED", now, provider.emit)
        if session.account_selection:
            session.logged_in = True
            return {"next": "accounts", "accounts": _selectable_accounts(item)}
        return _complete(provider, session, item, now)
    session.institution_id, session.username, session.method = inst.institution_id, username, method
    choices = items.selectable(method)
    return {
        "next": "select",
        "accounts": [
            {"index": n, "name": t.name, "mask": t.mask, "subtype": t.subtype}
            for n, t in enumerate(choices)
            if t.depository
        ],
    }


def _selectable_accounts(item: JSON) -> list[JSON]:
    """Account Select's list: every account at the Item, shared ones ticked (no numbers)."""
    return [
        {
            "id": a["account_id"],
            "name": a["name"],
            "mask": a["mask"],
            "subtype": a["subtype"],
            "shared": shared,
        }
        for shared, group in ((True, item["accounts"]), (False, items.unshared(item)))
        for a in group
    ]


def _share(provider: PlaidProvider, session: Session, payload: JSON, now: int) -> JSON:
    """Account Select's continue: the ticked accounts become the Item's shared ones."""
    item = provider.store.items.get(session.item_id or "")
    if not (session.account_selection and session.logged_in) or item is None:
        raise errors.invalid_request(
            "INVALID_FIELD", "accounts are chosen after logging in to an Item in update mode"
        )
    chosen = payload.get("account_ids")
    if not isinstance(chosen, list) or not all(isinstance(a, str) for a in chosen):
        raise errors.invalid_request("INVALID_FIELD", "account_ids must be a list of strings")
    items.share(item, list(dict.fromkeys(chosen)))
    return _complete(provider, session, item, now)


def _select(provider: PlaidProvider, session: Session, payload: JSON, now: int) -> JSON:
    if not session.method or session.institution_id is None:
        raise errors.invalid_request("INVALID_FIELD", "log in before selecting an account")
    choices = items.selectable(session.method)
    index = payload.get("account_index")
    if (
        isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index < len(choices)
        or not choices[index].depository
    ):
        raise errors.invalid_request("INVALID_FIELD", "account_index is not one of the choices")
    session.template = choices[index]
    if session.method == items.AUTOMATED:
        return {"next": "numbers"}
    return _create(provider, session, now, numbers=None)


def _create(
    provider: PlaidProvider, session: Session, now: int, *, numbers: tuple[str, str] | None
) -> JSON:
    if session.template is None or session.institution_id is None:
        raise errors.invalid_request("INVALID_FIELD", "log in and choose an account first")
    config = provider.store.link_tokens[session.link_token]
    item = items.link_credentials(
        provider.store,
        inst=INSTITUTIONS[session.institution_id],
        method=session.method,
        username=session.username,
        templates=[session.template],
        webhook=config["webhook"],
        products=config["products"],
        now=now,
        numbers=numbers,
    )
    return _complete(provider, session, item, now)


def _numbers(payload: JSON) -> tuple[str, str]:
    routing, number = _field(payload, "routing"), _field(payload, "account")
    if not items.aba_valid(routing):
        raise PlaidError(
            "INVALID_INPUT",
            "INVALID_FIELD",
            "routing must be a valid 9-digit ABA routing number",
            display_message="Enter a valid 9-digit routing number.",
        )
    if not number.isdigit() or not 4 <= len(number) <= 17:
        raise PlaidError(
            "INVALID_INPUT",
            "INVALID_FIELD",
            "account must be 4 to 17 digits",
            display_message="Enter an account number of 4 to 17 digits.",
        )
    return routing, number


def _account_numbers(provider: PlaidProvider, session: Session, payload: JSON, now: int) -> JSON:
    if session.method != items.AUTOMATED or session.template is None:
        raise errors.invalid_request(
            "INVALID_FIELD", "numbers are asked after an account is chosen"
        )
    return _create(provider, session, now, numbers=_numbers(payload))


def _manual(provider: PlaidProvider, session: Session, payload: JSON, now: int) -> JSON:
    config = provider.store.link_tokens[session.link_token]
    if session.mode != "new" or not config["same_day_microdeposits"]:
        raise PlaidError(
            "INVALID_REQUEST",
            "INVALID_FIELD",
            "manual account entry needs same_day_microdeposits_enabled in the link token",
            display_message="Manual account entry is not available.",
        )
    routing, number = _numbers(payload)
    subtype = payload.get("subtype", "checking")
    if subtype not in ("checking", "savings"):
        raise errors.invalid_request("INVALID_FIELD", "subtype must be checking or savings")
    item = items.link_manual(
        provider.store,
        routing=routing,
        number=number,
        subtype=str(subtype),
        holder=_field(payload, "name"),
        webhook=config["webhook"],
        products=config["products"],
        now=now,
    )
    return _complete(provider, session, item, now)


def _verify(provider: PlaidProvider, session: Session, payload: JSON, now: int) -> JSON:
    item = provider.store.items.get(session.item_id or "")
    if session.mode != "verify" or item is None:
        raise errors.invalid_request("INVALID_FIELD", "this Link session has nothing to verify")
    account = next(
        a
        for a in item["accounts"]
        if a["verification_status"] in ("pending_manual_verification", "verification_failed")
    )
    try:
        items.verify_code(item, account, _field(payload, "code"), provider.emit)
    except PlaidError as exc:
        if account["verification_status"] == "verification_failed":
            session.done = True
        raise _with_attempts(exc, account) from None
    return _complete(provider, session, item, now)


class _AttemptsError(PlaidError):
    attempts_left = 0


def _with_attempts(exc: PlaidError, account: JSON) -> PlaidError:
    wrapped = _AttemptsError(
        exc.error_type, exc.error_code, exc.message, display_message=exc.display_message
    )
    wrapped.attempts_left = int(account["attempts_left"] or 0)
    return wrapped


_STEPS = {
    "login": _login,
    "select": _select,
    "numbers": _account_numbers,
    "manual": _manual,
    "verify": _verify,
    "accounts": _share,
}


def _api(provider: PlaidProvider, request: Request, step: str) -> Response:
    if request.method != "POST":
        return json_response(405, {"error": {"error_message": "use POST"}})
    try:
        payload = request.json()
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        return json_response(400, {"error": {"error_message": "body must be a JSON object"}})
    with provider.store.lock:
        now = provider.services.clock.timestamp()
        items.tick(provider.store, now, provider.emit)
        try:
            if step == "start":
                answer = _start(provider, payload, now)
            elif step in _STEPS:
                session = provider.sessions.get(payload.get("link_session_id"), now)
                answer = _STEPS[step](provider, session, payload, now)
            else:
                return json_response(404, {"error": {"error_message": f"no Link step {step}"}})
        except PlaidError as exc:
            error = exc.item_error()
            if isinstance(exc, _AttemptsError):
                error["attempts_left"] = exc.attempts_left
            return json_response(exc.status, {"error": error})
    provider.services.dirty.set()
    return json_response(200, answer)


def page(provider: PlaidProvider, request: Request) -> Response:
    path = request.path
    if path.startswith(API_PREFIX):
        return _api(provider, request, path.removeprefix(API_PREFIX))
    if request.method not in ("GET", "HEAD"):
        return text_response(405, "<!doctype html><p>Method not allowed.</p>")
    if path == SCRIPT_PATH:
        return Response(
            200,
            asset("link-initialize.js").encode(),
            [
                ("Content-Type", "application/javascript; charset=utf-8"),
                ("Access-Control-Allow-Origin", "*"),
            ],
        )
    return text_response(200, asset("link.html"))
