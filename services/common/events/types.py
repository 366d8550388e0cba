"""Field types shared by events and API bodies: bounded text, money, tags, business time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

# ISO 4217 active codes (2024). Money is always an amount string plus one of these.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU
    UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)

# Control characters (other than tab/newline/CR) and lone surrogates are refused everywhere:
# they cannot be stored or exported faithfully.
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean_text(value: str) -> str:
    if _BAD_CHARS.search(value):
        raise ValueError("text contains control characters or invalid unicode")
    return value


def _single_line(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if "\n" in value or "\r" in value or "\t" in value:
        raise ValueError("must be a single line")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_text),
                 AfterValidator(_single_line)]
"""A short single-line label: a name, subject, title, company."""

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$")]
"""A machine-readable identifier: a region, source, owner, rep or team."""

LongText = Annotated[str, Field(max_length=20_000), AfterValidator(_clean_text)]
"""Free text (bodies, notes). Personal by default: it belongs under `personal`."""

Email = Annotated[
    str,
    Field(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$"),
    AfterValidator(_clean_text),
]
Phone = Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9 ()./-]{3,31}$")]

Tag = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
]

MAX_AMOUNT = Decimal("1000000000000")  # 10^12 in any currency is refused as absurd
_AMOUNT_PATTERN = re.compile(r"^-?[0-9]{1,13}(\.[0-9]{1,4})?$")


def _decimal_text(value: object, what: str, example: str) -> tuple[str, Decimal]:
    """The value as text and as a finite Decimal, or ValueError naming what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"{what} must be a decimal string such as \"{example}\"")
    text = str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {text[:40]!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, not {text[:40]}")
    if "e" in text.lower():
        raise ValueError(f"{what} must be written in plain digits such as \"{example}\", "
                         "not in exponent notation")
    return text, number


def _fraction_digits(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _money_amount(value: object) -> str:
    """A non-negative decimal string with at most four fraction digits, normalised to >= 2."""
    text, amount = _decimal_text(value, "amount", "12000.00")
    if amount < 0:
        raise ValueError("amount must not be negative")
    if amount >= MAX_AMOUNT:
        raise ValueError(f"amount must be below {MAX_AMOUNT}")
    if _fraction_digits(amount) > 4:
        raise ValueError("amount has more than 4 decimals")
    if not _AMOUNT_PATTERN.match(text):
        raise ValueError("amount must be plain digits with an optional decimal point, such as "
                         "\"12000.00\"")
    if _fraction_digits(amount) < 2:
        amount = amount.quantize(Decimal("0.01"))
    return str(amount)


Amount = Annotated[str, BeforeValidator(_money_amount), Field(json_schema_extra={"format": "decimal"})]
"""Money amount: decimal string, never a float."""


def _percent(value: object) -> str:
    text, pct = _decimal_text(value, "percent", "12.5")
    if not Decimal(0) < pct <= Decimal(100):
        raise ValueError("percent must be above 0 and at most 100")
    if _fraction_digits(pct) > 2:
        raise ValueError("percent has more than 2 decimals")
    if not re.match(r"^[0-9]{1,3}(\.[0-9]{1,2})?$", text):
        raise ValueError("percent must be plain digits with an optional decimal point, such "
                         "as \"12.5\"")
    return text


Percent = Annotated[str, BeforeValidator(_percent), Field(json_schema_extra={"format": "decimal"})]


def _currency(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in ISO_4217:
        raise ValueError("currency must be an ISO 4217 code such as EUR")
    return value.upper()


Currency = Annotated[str, BeforeValidator(_currency), Field(min_length=3, max_length=3)]

EARLIEST_BUSINESS_TIME = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)


def _business_time(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 at a positive offset has no UTC equivalent
        raise ValueError("occurred_at is before 1900") from None
    if value < EARLIEST_BUSINESS_TIME:
        raise ValueError("occurred_at is before 1900")
    if value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError("occurred_at is in the future")
    return value


def _not_a_number(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("occurred_at must be an ISO 8601 timestamp with an offset, not a number")
    return value


BusinessTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_business_time)]
"""When a fact happened in the business (UTC, timezone required, not in the future)."""
