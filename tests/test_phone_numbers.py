"""A caller's number in E.164 (records.patients.to_e164): as Chinese callers and carriers write
it, and the shortcut for a number already written in E.164 agreeing with phonenumbers' parser."""

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from records.patients import to_e164


def parsed(raw: str, region: str = "CN") -> str | None:
    """What phonenumbers alone makes of `raw`: the parser, then validity, then E.164."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return (
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(number)
        else None
    )


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+8613800138000", "+8613800138000"),
        ("13800138000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("010 6528 1999", "+861065281999"),
        ("+86010 6528 1999", "+861065281999"),  # a landline's trunk 0 after the country code
        ("+12125551234", "+12125551234"),  # a New York number, as Twilio sends a foreign caller's
        ("+266696687", None),  # Twilio's anonymous caller: no number
        ("+8612", None),
        ("anonymous", None),
        ("", None),
        ("+" + "1" * 60, None),
    ],
)
def test_numbers_as_callers_and_carriers_write_them(raw, e164):
    assert to_e164(raw) == e164


def _every_regions_numbers() -> list[str]:
    """phonenumbers' example number of each type in each region and non-geographic entity,
    in E.164, and each one changed as a caller or a spoofer might: a national prefix added
    after the country code (0, 1, 8, 06...), a digit too few or too many, other digits."""
    found = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE,
                     PhoneNumberType.VOIP, PhoneNumberType.PREMIUM_RATE, PhoneNumberType.UAN):  # fmt: skip
            if (example := phonenumbers.example_number_for_type(region, kind)) is not None:
                found.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        if (example := phonenumbers.example_number_for_non_geo_entity(code)) is not None:
            found.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    rng = random.Random(17)
    changed = set()
    for number in sorted(found):
        code = str(phonenumbers.parse(number).country_code)
        rest = number[1 + len(code) :]
        for prefix in ("0", "1", "8", "06", "9", "00"):
            changed.add(f"+{code}{prefix}{rest}")
        changed |= {number[:-1], number + "5", number[:-2]}
        changed.add(f"+{code}" + "".join(rng.choice("0123456789") for _ in rest))
    return sorted(found | changed)


def test_a_number_written_in_e164_is_read_as_phonenumbers_reads_it_in_every_region():
    numbers = _every_regions_numbers()
    assert len(numbers) > 5000
    differ = [(raw, to_e164(raw), parsed(raw)) for raw in numbers if to_e164(raw) != parsed(raw)]
    assert differ == []
