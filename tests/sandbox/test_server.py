"""The sandbox process: persistence, the commands that start it, isolation, control API."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import stripe

from sandbox.client import ControlAPIError, SandboxControl
from sandbox.server import start_in_thread
from tests.sandbox.conftest import make_client

ROOT = Path(__file__).resolve().parents[2]
PI = {"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


def test_state_file_keeps_objects_and_idempotency_across_restarts(tmp_path):
    state = tmp_path / "sandbox.json"
    with start_in_thread(state_file=state) as first:
        client = make_client(first.url)
        customer = client.v1.customers.create(
            params={"email": "kept@example.com"}, options={"idempotency_key": "k1"}
        )
    with start_in_thread(state_file=state) as second:
        client = make_client(second.url)
        assert client.v1.customers.retrieve(customer.id).email == "kept@example.com"
        replay = client.v1.customers.create(
            params={"email": "kept@example.com"}, options={"idempotency_key": "k1"}
        )
        assert replay.id == customer.id


def test_unreadable_state_file_stops_with_a_reason(tmp_path):
    state = tmp_path / "sandbox.json"
    state.write_text("{not json")
    with pytest.raises(SystemExit, match="unreadable"):
        start_in_thread(state_file=state)


def _spawn(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("Sandbox listening on http://"), (
        process.stderr.read() if process.stderr else line
    )
    return process, line.rsplit(" ", 1)[-1]


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=10)


def test_python_m_sandbox_serves_and_saves_on_sigterm(tmp_path):
    state = tmp_path / "state.json"
    process, url = _spawn(
        [sys.executable, "-m", "sandbox", "--port", "0", "--state-file", str(state)]
    )
    try:
        make_client(url).v1.customers.create(params={"email": "sub@example.com"})
    finally:
        assert _stop(process) == 0
    assert "sub@example.com" in state.read_text()


def test_manage_py_run_sandbox(tmp_path):
    process, url = _spawn(
        [sys.executable, "manage.py", "run_sandbox", "--port", "0", "--webhook-secret", "whsec_a"],
        env={"DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    try:
        assert SandboxControl(url).request("GET", "health")["ok"] is True
        assert SandboxControl(url).request("GET", "stripe/webhook")["secrets"] == ["whsec_a"]
    finally:
        assert _stop(process) == 0


def test_sandbox_imports_nothing_from_the_project():
    # cryptography signs Plaid webhooks (ES256); it is a dependency of the project, not part of it.
    allowed_roots = {"sandbox", "django", "cryptography", "__future__"} | set(
        sys.stdlib_module_names
    )
    for path in (ROOT / "sandbox").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] in allowed_roots, f"{path}: imports {name}"
                if name.startswith("django"):
                    django_ok = "management" in path.parts or path.name == "apps.py"
                    assert django_ok, f"{path}: only the app config and command may use Django"


def test_control_api_rejects_unknown_endpoints_and_bad_json(sandbox):
    with pytest.raises(ControlAPIError) as missing:
        sandbox.control.request("GET", "nope")
    assert missing.value.status == 404
    import urllib.request

    request = urllib.request.Request(sandbox.url + "/_sandbox/faults", data=b"{", method="POST")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5)
    assert bad.value.code == 400


def test_reset_forgets_everything(sandbox):
    client = make_client(sandbox.url)
    client.v1.payment_intents.create(params={**PI, "payment_method_types": ["card"]})
    assert sandbox.control.count("charge") == 1
    sandbox.control.reset()
    assert sandbox.control.state()["stripe"]["objects"] == {}


def test_concurrent_refunds_never_exceed_the_captured_amount(sandbox):
    client = make_client(sandbox.url, max_network_retries=0)
    pi = client.v1.payment_intents.create(params={**PI, "payment_method_types": ["card"]})
    outcomes: list[str] = []

    def refund() -> None:
        try:
            client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 700})
            outcomes.append("ok")
        except stripe.InvalidRequestError as exc:
            outcomes.append(str(exc.code))

    threads = [threading.Thread(target=refund) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    charge = client.v1.charges.retrieve(str(pi.latest_charge))
    assert outcomes.count("ok") == 7  # 7 x 700 = 4900 of 5000
    assert charge.amount_refunded == 4900


def test_onboarding_link_page_is_served(sandbox):
    import urllib.request

    client = make_client(sandbox.url)
    account = client.v1.accounts.create(params={"type": "express"})
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "return_url": "http://shop.test/back",
        }
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        link.url, timeout=5
    ) as page:
        html = page.read().decode()
    assert account.id in html
    assert "http://shop.test/back" in html
