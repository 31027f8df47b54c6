"""``hongyan billing`` on the embedded SQLite database: prices, top-ups, balances, ledgers."""

from __future__ import annotations

from pathlib import Path

from tests.cli_kit import as_json, invoke


def test_prices_from_the_shell(data_dir: Path) -> None:
    price = as_json(data_dir, "billing", "price", "set", "cn", "4", "--kind", "verification")
    assert (price["country"], price["kind"], price["unit_price"]) == ("CN", "verification", 4)
    as_json(data_dir, "billing", "price", "set", "*", "30", "--currency", "CNY")
    listed = as_json(data_dir, "billing", "price", "list")
    assert [(p["country"], p["kind"]) for p in listed] == [("*", "*"), ("CN", "verification")]
    code, out = invoke(data_dir, "billing", "price", "remove", "CN", "--kind", "verification")
    assert code == 0 and "removed" in out
    code, out = invoke(data_dir, "billing", "price", "remove", "CN", "--kind", "verification")
    assert code == 1 and "PRICE_NOT_FOUND" in out
    code, out = invoke(data_dir, "billing", "price", "set", "XX", "1")
    assert code == 1 and "NUMBER_REGION_UNKNOWN" in out


def test_balances_from_the_shell(data_dir: Path) -> None:
    tenant = as_json(data_dir, "tenant", "create", "acme")["id"]
    entry = as_json(data_dir, "billing", "topup", tenant, "10000", "--note", "wire")
    assert (entry["kind"], entry["amount"], entry["balance_after"]) == ("topup", 10000, 10000)
    down = as_json(data_dir, "billing", "adjust", tenant, "-2500", "--note", "correction")
    assert (down["amount"], down["balance_after"]) == (-2500, 7500)
    code, out = invoke(data_dir, "billing", "adjust", tenant, "-9000", "--note", "x")
    assert code == 1 and "INSUFFICIENT_BALANCE" in out

    terms = as_json(data_dir, "billing", "set", tenant, "--policy", "on_delivery")
    assert terms["charge_policy"] == "on_delivery"
    balance = as_json(data_dir, "billing", "balance", tenant)
    assert (balance["balance"], balance["currency"], balance["charge_policy"]) == (
        7500,
        "CNY",
        "on_delivery",
    )
    ledger = as_json(data_dir, "billing", "ledger", tenant)
    assert [e["kind"] for e in ledger] == ["adjustment", "topup"]
    assert as_json(data_dir, "billing", "ledger", tenant, "--kind", "topup")[0]["amount"] == 10000
    code, out = invoke(data_dir, "billing", "set", tenant, "--currency", "USD")
    assert code == 1 and "CURRENCY_LOCKED" in out
    code, out = invoke(data_dir, "billing", "balance", "ten_missing")
    assert code == 1 and "TENANT_NOT_FOUND" in out
    code, out = invoke(data_dir, "billing", "ledger", tenant)
    assert code == 0 and "wire" in out  # the human table
