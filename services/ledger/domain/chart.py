"""The chart of accounts (docs/ledger.md, "Chart of accounts"): one set per tenant and currency.

Amounts in the ledger are signed minor units, debit positive and credit negative, so the
postings of a balanced transaction sum to zero and an account's raw balance is the sum of
its postings. Liabilities and income are credit-normal: their *natural* balance is the
negated raw balance (an escrow holding 100.00 has raw balance -10000, natural +10000).

Some accounts are kept per sub-ledger: escrow held per order, advance receivable and
deferred fee income per advance. Every other account has the empty sub-ledger "".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    number: str
    name: str
    type: AccountType
    subledger: str | None = None  # what the sub-ledger key is, when the account has one


STRIPE_CLEARING = AccountSpec("stripe_clearing", "1010", "Stripe clearing", AccountType.ASSET)
BANK = AccountSpec("bank", "1020", "Bank", AccountType.ASSET)
PAYOUTS_IN_TRANSIT = AccountSpec(
    "payouts_in_transit", "1030", "Stripe payouts in transit", AccountType.ASSET
)
STRIPE_RESERVE = AccountSpec("stripe_reserve", "1040", "Stripe reserve", AccountType.ASSET)
# The conversion desk, per currency (docs/fx.md): a conversion credits it in the currency it
# takes and debits it in the currency it gives (at mid); Stripe's settlement clears it.
FX_CLEARING = AccountSpec("fx_clearing", "1050", "FX clearing", AccountType.ASSET)
DISPUTED_FUNDS = AccountSpec(
    "disputed_funds", "1060", "Funds withdrawn by disputes", AccountType.ASSET
)
ADVANCE_RECEIVABLE = AccountSpec(
    "advance_receivable", "1300", "Advance receivable", AccountType.ASSET, "advance"
)
ESCROW_HELD = AccountSpec("escrow_held", "2100", "Escrow held", AccountType.LIABILITY, "order")
SUPPLIER_PAYABLE = AccountSpec(
    "supplier_payable", "2200", "Supplier payable", AccountType.LIABILITY
)
DEFERRED_FEE_INCOME = AccountSpec(
    "deferred_fee_income", "2300", "Deferred fee income", AccountType.LIABILITY, "advance"
)
# Period-end revaluation of escrow held into the reporting currency (reversed next period).
ESCROW_REVALUATION = AccountSpec(
    "escrow_revaluation", "2110", "Escrow held revaluation", AccountType.LIABILITY, "order"
)
REFUNDS_PAYABLE = AccountSpec(
    "refunds_payable", "2400", "Failed refunds owed to buyers", AccountType.LIABILITY
)
SUSPENSE = AccountSpec("suspense", "2900", "Suspense (breaks)", AccountType.LIABILITY)
PLATFORM_FEE_REVENUE = AccountSpec(
    "platform_fee_revenue", "4000", "Platform fee revenue", AccountType.INCOME
)
FEE_INCOME = AccountSpec("fee_income", "4100", "Financing fee income", AccountType.INCOME)
FX_REVENUE = AccountSpec("fx_revenue", "4200", "FX markup revenue", AccountType.INCOME)
REALISED_FX_GAIN = AccountSpec("realised_fx_gain", "4300", "Realised FX gain", AccountType.INCOME)
UNREALISED_FX = AccountSpec(
    "unrealised_fx", "4400", "Unrealised FX gain (loss)", AccountType.INCOME
)
PSP_FEE_EXPENSE = AccountSpec("psp_fee_expense", "5000", "PSP fee expense", AccountType.EXPENSE)
CREDIT_LOSSES = AccountSpec("credit_losses", "5100", "Credit losses", AccountType.EXPENSE)
REALISED_FX_LOSS = AccountSpec("realised_fx_loss", "5200", "Realised FX loss", AccountType.EXPENSE)

CHART: dict[str, AccountSpec] = {
    a.code: a
    for a in (
        STRIPE_CLEARING,
        BANK,
        PAYOUTS_IN_TRANSIT,
        STRIPE_RESERVE,
        FX_CLEARING,
        DISPUTED_FUNDS,
        ADVANCE_RECEIVABLE,
        ESCROW_HELD,
        ESCROW_REVALUATION,
        SUPPLIER_PAYABLE,
        DEFERRED_FEE_INCOME,
        REFUNDS_PAYABLE,
        SUSPENSE,
        PLATFORM_FEE_REVENUE,
        FEE_INCOME,
        FX_REVENUE,
        REALISED_FX_GAIN,
        UNREALISED_FX,
        PSP_FEE_EXPENSE,
        CREDIT_LOSSES,
        REALISED_FX_LOSS,
    )
}


class UnknownAccount(ValueError):
    pass


def account(code: str) -> AccountSpec:
    try:
        return CHART[code]
    except KeyError:
        raise UnknownAccount(f"no account {code!r} in the chart") from None


def natural_balance(code: str, raw: int) -> int:
    """The balance as finance staff read it: positive on the account's normal side."""
    return raw if account(code).type.debit_normal else -raw
