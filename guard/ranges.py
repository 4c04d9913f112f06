"""High-risk destinations, kept as data with their sources (docs/compliance.md, "Fraud and anomaly guard").

SMS pumping (artificially inflated traffic, AIT) sends texts to numbers whose operator shares the termination fee
with the fraudster: premium-rate and shared-cost ranges, satellite and "international network" codes that cost
far more than a mobile, and whole blocks of mobile numbers in countries where such deals are common. A marketing
platform never needs any of these ranges, so they are blocked by default (``GuardSettings.block_high_risk``).

Each entry: the E.164 prefix (at most ``MAX_PREFIX_LENGTH`` characters: the screen looks prefixes up in a set, by
the first characters of the number), what it is, and where that is written down:

- ITU: ITU-T Recommendation E.164, "List of ITU-T Recommendation E.164 assigned country codes" (the annex to the ITU
  Operational Bulletin): the non-geographic codes for global services.
- National numbering plans, as Google's libphonenumber metadata encodes them (its ``PREMIUM_RATE`` and
  ``PERSONAL_NUMBER`` types, from each regulator's plan: NANPA, Ofcom, ARCEP, BNetzA, AGCOM, CNMC, ACMA, RTR,
  BAKOM, BIPT, ACM, UKE, PTS, ComReg). ``SAMPLES`` holds one number per range that the tests check against
  libphonenumber's own classification (``guard/tests/test_ranges.py``).

``HIGH_RISK_COUNTRIES``: the countries Twilio lists as "known for having high risk of fraudulent activity" in its
Messaging Geo Permissions (error 30649, https://www.twilio.com/docs/api/errors/30649). They are not blocked by a
rule of their own: a tenant's allowed countries decide (by default only its own country). The Guard settings warn
when a tenant allows one.
"""

from __future__ import annotations

ITU = "ITU-T E.164 assigned country codes (global services)"
NANPA = "NANP numbering plan (NANPA): 900 premium services"
OFCOM = "UK National Telephone Numbering Plan (Ofcom)"
PLAN = "national numbering plan (libphonenumber PREMIUM_RATE metadata)"

#: Prefixes are matched on at most this many characters of the E.164 number ("+" and six digits).
MAX_PREFIX_LENGTH = 7

#: (prefix, what it is, source)
HIGH_RISK_PREFIXES: tuple[tuple[str, str, str], ...] = (
    # Global services (no country): ITU-T E.164.
    ("+800", "International Freephone Service (cannot take SMS)", ITU),
    ("+808", "International Shared Cost Service", ITU),
    ("+870", "Inmarsat single network access code (satellite)", ITU),
    ("+881", "Global Mobile Satellite System", ITU),
    ("+882", "International networks", ITU),
    ("+883", "International networks", ITU),
    ("+888", "Telecommunications for disaster relief (OCHA)", ITU),
    ("+979", "International Premium Rate Service", ITU),
    ("+991", "International public correspondence telecommunication trial", ITU),
    # National premium-rate and personal-number ranges.
    ("+1900", "United States premium services (900)", NANPA),
    ("+4470", "United Kingdom personal numbers (070), a known pumping target", OFCOM),
    ("+449", "United Kingdom premium rate (09)", OFCOM),
    ("+3389", "France premium rate (089)", PLAN),
    ("+49900", "Germany premium rate (0900)", PLAN),
    ("+39899", "Italy premium rate (899)", PLAN),
    ("+34803", "Spain premium rate (803)", PLAN),
    ("+34806", "Spain premium rate (806)", PLAN),
    ("+34807", "Spain premium rate (807)", PLAN),
    ("+611900", "Australia premium rate (1900)", PLAN),
    ("+43900", "Austria premium rate (0900)", PLAN),
    ("+41900", "Switzerland premium rate (0900)", PLAN),
    ("+3290", "Belgium premium rate (090x)", PLAN),
    ("+31906", "Netherlands premium rate (0906)", PLAN),
    ("+31909", "Netherlands premium rate (0909)", PLAN),
    ("+48701", "Poland premium rate (701)", PLAN),
    ("+46900", "Sweden premium rate (0900)", PLAN),
    ("+35315", "Ireland premium rate (15xx)", PLAN),
)

#: One number in each national range, checked by the tests against libphonenumber (its type must be risky).
SAMPLES: dict[str, str] = {
    "+1900": "+19002345678",
    "+4470": "+447012345678",
    "+449": "+449012345678",
    "+3389": "+33891123456",
    "+49900": "+499001234567",
    "+39899": "+39899123456",
    "+34803": "+34803123456",
    "+34806": "+34806123456",
    "+34807": "+34807123456",
    "+611900": "+611900123456",
    "+43900": "+43900123456",
    "+41900": "+41900123456",
    "+3290": "+3290012345",
    "+31906": "+319061234",
    "+31909": "+319091234",
    "+48701": "+48701234567",
    "+46900": "+469001234567",
    "+35315": "+3531520123456",
}

#: Twilio's high-risk messaging countries (error 30649): Bangladesh, Israel, Nigeria, Pakistan, Palestinian
#: Territories, Sri Lanka, Azerbaijan, Tajikistan, Oman, Tunisia, Algeria.
HIGH_RISK_COUNTRIES = frozenset({"BD", "IL", "NG", "PK", "PS", "LK", "AZ", "TJ", "OM", "TN", "DZ"})
