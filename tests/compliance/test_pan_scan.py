"""`pan_scan`: card numbers planted in text and JSON columns and in log files are found and
reported by location only; Luhn-invalid runs, ids and timestamps are not reported."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.payments.factories import CustomerFactory

pytestmark = pytest.mark.django_db

MASTERCARD = "5555 5555 5555 4444"
AMEX_DASHED = "3782-822463-10005"
VISA = "4242424242424242"
# Luhn-valid, 13 and 17 digits, but starting with 1 like every current Unix ms / 10 ns stamp.
TIMESTAMP_MS = "1732183456786"
TIMESTAMP_LONG = "17321834567890007"


def _run(*args: str) -> tuple[int, str]:
    """Exit status and everything the command printed (stdout, stderr, error line)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("pan_scan", *args, stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue() + err.getvalue() + str(error)
    return 0, out.getvalue() + err.getvalue()


def _assert_no_digits_of(number: str, output: str) -> None:
    digits = re.sub(r"\D", "", number)
    assert digits not in re.sub(r"\D", "", output)
    for group in re.split(r"[ -]", number):
        assert group not in output, f"output shows part of the number: {group}"
    assert digits[-4:] not in output
    assert digits[:6] not in output


def test_pan_in_a_text_column_is_found_by_table_column_and_pk(db):
    """Given a card number typed into a customer's description, the scan exits 1 naming the
    table, column and primary key and the digit count, and prints none of the digits."""
    customer = CustomerFactory(description=f"paid by card {MASTERCARD} on the phone")
    status, output = _run()
    assert status == 1
    assert f"payments_customer.description pk={customer.pk}: Luhn-valid 16-digit number" in output
    assert "1 possible card numbers found" in output
    _assert_no_digits_of(MASTERCARD, output)


def test_pan_in_a_json_column_is_found(db):
    customer = CustomerFactory(metadata={"note": {"card": VISA}, "n": [1, 2]})
    status, output = _run()
    assert status == 1
    assert f"payments_customer.metadata pk={customer.pk}" in output
    _assert_no_digits_of(VISA, output)


def test_pan_as_a_json_number_is_found(db):
    CustomerFactory(metadata={"card": int(VISA)})
    status, _ = _run()
    assert status == 1


def test_pan_in_a_log_file_is_found_by_file_and_line(db, tmp_path: Path):
    log = tmp_path / "app.log"
    log.write_text(
        "2026-01-01 10:00:00 INFO started\n"
        f"2026-01-01 10:00:01 INFO charge card={AMEX_DASHED} ok\n"
        "2026-01-01 10:00:02 INFO done\n",
        encoding="utf-8",
    )
    status, output = _run(str(log))
    assert status == 1
    assert f"{log}:2: Luhn-valid 15-digit number" in output
    _assert_no_digits_of(AMEX_DASHED, output)


def test_clean_database_and_log_exit_zero_with_counts(db, tmp_path: Path):
    """Luhn-invalid runs, ids, UUIDs and timestamps are not card numbers."""
    CustomerFactory(
        description="order 4242424242424241 (Luhn-invalid), ref pay_4Kd82Ja0s9",
        metadata={
            "created_ms": int(TIMESTAMP_MS),
            "created_ns": TIMESTAMP_LONG,
            "uuid": "6f1c2e9a-8b7d-4c3e-9f10-2a4b6c8d0e12",
            "phone": "+44 20 7946 0958",
            "iban": "GB82 WEST 1234 5698 7654 32",
            "long_id": VISA + "1234",
        },
    )
    log = tmp_path / "server.log"
    log.write_text(
        f"2026-11-21 10:53:36,988 INFO stripe [req_fd90478d10876f88] t={TIMESTAMP_MS}\n"
        "GET /pay/J7fhDKmo6QWUW92gmgFvoeli2XKElUilLi75781GjVo/ 200 1234 bytes\n",
        encoding="utf-8",
    )
    status, output = _run(str(log))
    assert status == 0, output
    match = re.search(r"OK: no card numbers found; scanned (\d+) values in (\d+) tables", output)
    assert match
    assert int(match.group(1)) >= 3
    assert "2 lines in 1 files" in output


def test_progress_bar_stays_quiet_without_a_terminal(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("pan_scan", stdout=out, stderr=err)
    assert err.getvalue() == ""
    assert out.getvalue().count("\n") == 1


def test_unreadable_log_is_a_one_line_failure_not_a_finding(db, tmp_path: Path):
    status, output = _run(str(tmp_path / "missing.log"))
    assert status == 2
    assert output.strip().count("\n") == 0
    assert "cannot read" in output
    assert "missing.log" in output


def test_a_database_without_tables_is_a_failure_not_a_clean_scan(db, monkeypatch):
    from compliance import pan_scan

    monkeypatch.setattr(pan_scan, "scannable_models", lambda: iter(()))
    status, output = _run()
    assert status == 2
    assert "no application tables" in output


def test_logs_only_scan(db, tmp_path: Path):
    log = tmp_path / "a.log"
    log.write_text(f"x {VISA}\n", encoding="utf-8")
    status, output = _run("--no-database", str(log))
    assert status == 1
    assert f"{log}:1:" in output
