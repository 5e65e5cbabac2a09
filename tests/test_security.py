"""Passwords never leak into messages or logs (filter values are data, never SQL:
``tests/contract/test_security.py``)."""

from __future__ import annotations

import logging

import pytest

from sessionstore import StoreUnavailableError, open_store


def test_passwords_stay_out_of_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "pa55-w0rd-9f3a"
    url = f"postgresql+psycopg://admin:{secret}@127.0.0.1:1/sessions"
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailableError) as info:
        open_store(url)
    shown = [str(info.value), repr(info.value), caplog.text]
    assert all(secret not in text for text in shown)
    assert "admin:***@127.0.0.1:1" in str(info.value)
