"""Customers: their CRM records (with PII) and the latent traits that drive their behaviour."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import Catalogue
from .text import format_ids, format_integers, pick, with_nulls
from .timeline import DAY, Timeline, format_date, format_utc

# Accents, apostrophes and a quoted nickname on purpose: exports carry them and parsers trip on them.
FIRST_NAMES = (
    "Emma", "Olivia", "Noah", "Liam", "Zoë", "José", "Renée", "François", "Siobhán", "Björn", "Łukasz",
    "Chloé", "Mateo", "Søren", "Ana", "Lucía", "Jürgen", "Aoife", "Hannah", "Mohammed", "Aïsha", "Ben",
    'Robert "Bob"', "Marie-Claire", "D'Andre", "Ingrid", "Élodie", "Nuno", "Giulia", "Oskar", "Sofia", "Yusuf",
)
LAST_NAMES = (
    "Smith", "O'Brien", "Müller", "García", "Núñez", "Dubois", "D'Angelo", "Jones", "Kowalski", "Rossi",
    "Nguyen", "Schäfer", "Fernández", "O'Connor", "Martin", "Brown", "Jensen", "Ødegaard", "Silva", "Lefèvre",
    "van der Berg", "MacDonald", "Wójcik", "Taylor", "Çelik", "de la Cruz", "Andersson", "Ó Súilleabháin",
    "Weiß", "Patel", "Kim", "Novák",
)
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "example.co.uk")

# (code, share, currency, UTC offset in minutes, phone prefix, cities as (name, postcode prefix, digits, letters))
COUNTRIES = (
    ("US", 0.28, "USD", -300, "+1 555", (("New York", "100", 2, False), ("Boston", "021", 2, False), ("Hoboken", "070", 2, False), ("Chicago", "606", 2, False))),
    ("GB", 0.20, "GBP", 0, "+44 7700", (("London", "SW1A ", 1, True), ("Manchester", "M1 ", 1, True), ("Edinburgh", "EH1 ", 1, True))),
    ("DE", 0.16, "EUR", 60, "+49 151", (("Dresden", "010", 2, False), ("Leipzig", "041", 2, False), ("München", "80", 3, False), ("Berlin", "10", 3, False))),
    ("FR", 0.15, "EUR", 60, "+33 6", (("Paris", "750", 2, False), ("Nice", "06", 3, False), ("Bourg-en-Bresse", "01", 3, False), ("Besançon", "25", 3, False))),
    ("ES", 0.08, "EUR", 60, "+34 612", (("Madrid", "280", 2, False), ("Barcelona", "080", 2, False), ("Málaga", "290", 2, False))),
    ("IT", 0.08, "EUR", 60, "+39 312", (("Roma", "001", 2, False), ("Milano", "201", 2, False), ("Torino", "101", 2, False))),
    ("NL", 0.05, "EUR", 60, "+31 6", (("Amsterdam", "10", 2, True), ("'s-Hertogenbosch", "52", 2, True), ("Utrecht", "35", 2, True))),
)
CURRENCIES = ("USD", "GBP", "EUR")
#: Order currency units per EUR of list price.
EUR_TO_CURRENCY = np.array([1.08, 0.85, 1.0])
POSTCODE_LETTERS = ("AA", "AB", "BX", "DN", "EQ", "HS", "JT", "LU", "NZ", "XY")
COLD_START_DAYS = 30
FAVOURITES_PER_CUSTOMER = 3
#: anonymous_id numbers are a bijection of the visitor number mod 10**10 (the multiplier is coprime
#: with 10, and small enough that the product fits in uint64); customers use [0, 5e9).
_VISITOR_MULTIPLIER = 1_234_567_891
_VISITOR_MODULUS = 10**10
ANONYMOUS_VISITOR_BASE = 5 * 10**9


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L").replace("ß", "ss"))
    return "".join(char for char in decomposed if char.isascii() and char.isalnum()).lower()


def visitor_ids(numbers: np.ndarray) -> pa.Array:
    """Opaque cookie ids (`a` + 10 digits): distinct numbers give distinct ids."""
    scrambled = (np.asarray(numbers, dtype=np.uint64) * np.uint64(_VISITOR_MULTIPLIER)) % np.uint64(_VISITOR_MODULUS)
    return format_ids("a", scrambled, 10)


@dataclass(frozen=True)
class CustomerChunk:
    """A slice of consecutive customers: their rows for customers.csv and their latent traits."""

    table: pa.Table
    number: np.ndarray  # global 0-based customer number
    customer_id: pa.Array
    signup_at: np.ndarray
    active_until: np.ndarray  # churn time, or the end of history for customers still active
    purchase_rate: np.ndarray  # orders per seasonally weighted day while active
    engagement: np.ndarray  # 0..1, drives email opens and clicks
    mood: np.ndarray  # -1..1, drives social sentiment
    category_cdf: np.ndarray  # (n, n_categories) cumulative category preference
    favourites: np.ndarray  # (n, FAVOURITES_PER_CUSTOMER) product indexes bought again and again
    repeat_propensity: np.ndarray
    discount_affinity: np.ndarray
    app_user: np.ndarray
    opted_in: np.ndarray
    currency: np.ndarray  # index into CURRENCIES
    utc_offset_minutes: np.ndarray
    never_ordered: np.ndarray  # cold-start customers kept without orders

    @property
    def size(self) -> int:
        return len(self.number)

    def sample_categories(self, rng: np.random.Generator, customer: np.ndarray) -> np.ndarray:
        """A category per row, drawn from that row's customer preference."""
        draw = rng.random(len(customer))
        return np.minimum((self.category_cdf[customer] < draw[:, None]).sum(axis=1), self.category_cdf.shape[1] - 1)


def _signup_times(rng: np.random.Generator, n: int, timeline: Timeline) -> np.ndarray:
    # 30% joined in the two years before the history; the rest at a growing rate (2x more sign-ups at the end than the start).
    growth = np.log(2.0)
    position = np.log1p(rng.random(n) * (np.exp(growth) - 1.0)) / growth
    during = timeline.start + (position * (timeline.end - timeline.start)).astype(np.int64)
    before = timeline.start - rng.integers(DAY, 730 * DAY, n)
    return np.where(rng.random(n) < 0.3, before, during)


def build_customers(rng: np.random.Generator, first_number: int, n: int, timeline: Timeline, catalogue: Catalogue) -> CustomerChunk:
    number = np.arange(first_number, first_number + n, dtype=np.int64)
    customer_id = format_ids("C", number + 1, 7)
    signup_at = _signup_times(rng, n, timeline)

    # Pareto/NBD-like heterogeneity: a gamma purchase rate and an exponential lifetime with a varying mean.
    purchase_rate = rng.gamma(0.75, 0.025 / 0.75, n)
    mean_lifetime_days = rng.lognormal(np.log(420.0), 0.7, n)
    churn_at = signup_at + (rng.exponential(1.0, n) * mean_lifetime_days * DAY).astype(np.int64)
    active_until = np.minimum(churn_at, timeline.end)
    cold = signup_at >= timeline.end - COLD_START_DAYS * DAY
    never_ordered = cold & (rng.random(n) < 0.6)

    # Engagement (email opens, clicks) and social mood rise with the purchase rate: engaged customers buy more.
    log_rate = np.log(purchase_rate + 1e-6)
    standardised = (log_rate - log_rate.mean()) / (log_rate.std() + 1e-9)
    engagement = 1.0 / (1.0 + np.exp(-(0.8 * standardised + 0.8 * rng.normal(size=n) - 1.0)))
    mood = np.clip(0.25 + 0.2 * standardised + 0.35 * rng.normal(size=n), -1.0, 1.0)

    preference = rng.gamma(0.35, 1.0, (n, catalogue.n_categories)) + 1e-9
    category_cdf = np.cumsum(preference / preference.sum(axis=1, keepdims=True), axis=1)
    owner = np.repeat(np.arange(n), FAVOURITES_PER_CUSTOMER)
    draw = rng.random(len(owner))
    favourite_category = np.minimum((category_cdf[owner] < draw[:, None]).sum(axis=1), catalogue.n_categories - 1)
    favourites = catalogue.sample_in_categories(rng, favourite_category).reshape(n, FAVOURITES_PER_CUSTOMER)

    country = rng.choice(len(COUNTRIES), size=n, p=np.array([entry[1] for entry in COUNTRIES]) / sum(entry[1] for entry in COUNTRIES))
    currency = np.array([CURRENCIES.index(entry[2]) for entry in COUNTRIES])[country]
    utc_offset_minutes = np.array([entry[3] for entry in COUNTRIES])[country]

    opted_in = rng.random(n) < 0.7
    table = _customer_rows(rng, customer_id, country, signup_at, opted_in, timeline)
    return CustomerChunk(
        table=table,
        number=number,
        customer_id=customer_id,
        signup_at=signup_at,
        active_until=active_until,
        purchase_rate=purchase_rate,
        engagement=engagement,
        mood=mood,
        category_cdf=category_cdf,
        favourites=favourites,
        repeat_propensity=rng.beta(1.5, 4.0, n),
        discount_affinity=rng.beta(0.6, 2.2, n),
        app_user=rng.random(n) < 0.35,
        opted_in=opted_in,
        currency=currency,
        utc_offset_minutes=utc_offset_minutes,
        never_ordered=never_ordered,
    )


def _city_and_postcode(rng: np.random.Generator, country: np.ndarray) -> tuple[pa.Array, pa.Array]:
    n = len(country)
    cities = [(country_index, city) for country_index, entry in enumerate(COUNTRIES) for city in entry[5]]
    first_city = np.cumsum([0] + [len(entry[5]) for entry in COUNTRIES])[:-1]
    city_count = np.array([len(entry[5]) for entry in COUNTRIES])
    city = first_city[country] + (rng.random(n) * city_count[country]).astype(np.int64)
    prefix = pick([city_entry[1] for _, city_entry in cities], city)
    digits = np.array([city_entry[2] for _, city_entry in cities])[city]
    number = rng.integers(0, 10**digits)
    has_letters = np.array([city_entry[3] for _, city_entry in cities])[city]
    # Zero-padded to the city's width: leading zeros (01067, 02108) are part of the code.
    code = pc.utf8_lpad(format_integers(number), width=1, padding="0")
    for width in np.unique(digits).tolist():
        code = pc.if_else(pa.array(digits == width), pc.utf8_lpad(format_integers(number), width=width, padding="0"), code)
    letters = pick(POSTCODE_LETTERS, rng.integers(0, len(POSTCODE_LETTERS), n))
    is_dutch = np.array([entry[0] == "NL" for entry in COUNTRIES])[country]
    spaced_letters = pc.if_else(pa.array(is_dutch), pc.binary_join_element_wise(" ", letters, ""), letters)
    suffix = pc.if_else(pa.array(has_letters), spaced_letters, pa.scalar("", pa.string()))
    postcode = pc.binary_join_element_wise(prefix, code, suffix, "")
    return pick([city_entry[0] for _, city_entry in cities], city), postcode


def _customer_rows(
    rng: np.random.Generator, customer_id: pa.Array, country: np.ndarray, signup_at: np.ndarray, opted_in: np.ndarray, timeline: Timeline
) -> pa.Table:
    n = len(country)
    first_index = rng.integers(0, len(FIRST_NAMES), n)
    last_index = rng.integers(0, len(LAST_NAMES), n)
    first_ascii = pick([_ascii(name) for name in FIRST_NAMES], first_index)
    last_ascii = pick([_ascii(name) for name in LAST_NAMES], last_index)
    email_number = pc.if_else(pa.array(rng.random(n) < 0.6), format_integers(rng.integers(1, 999, n)), pa.scalar("", pa.string()))
    domain = pick(EMAIL_DOMAINS, rng.integers(0, len(EMAIL_DOMAINS), n))
    email = pc.binary_join_element_wise(first_ascii, ".", last_ascii, email_number, "@", domain, "")
    city, postcode = _city_and_postcode(rng, country)
    phone = pc.binary_join_element_wise(
        pick([entry[4] for entry in COUNTRIES], country), format_integers(rng.integers(1_000_000, 9_999_999, n)), " "
    )
    age = np.clip(rng.normal(41, 13, n), 18, 88).astype(np.int64)
    birth_at = timeline.end - age * 365 * DAY - rng.integers(0, 365 * DAY, n)
    band_start = age // 5 * 5
    age_group = pc.binary_join_element_wise(format_integers(band_start), format_integers(band_start + 4), "-")
    gender = pick(("female", "male", "non-binary", ""), rng.choice(4, size=n, p=[0.48, 0.46, 0.02, 0.04]))
    edit_window = np.minimum(300 * DAY, timeline.end - signup_at)
    updated_at = np.where(rng.random(n) < 0.5, signup_at, signup_at + (rng.random(n) * edit_window).astype(np.int64))
    rows = {
        "customer_id": customer_id,
        "email": email,
        "first_name": pick(FIRST_NAMES, first_index),
        "last_name": pick(LAST_NAMES, last_index),
        "phone": with_nulls(phone, rng.random(n) < 0.2),
        "country": pick([entry[0] for entry in COUNTRIES], country),
        "city": city,
        "postal_code": postcode,
        "signup_at": format_utc(signup_at),
        "birth_date": with_nulls(format_date(birth_at), rng.random(n) < 0.25),
        "gender": with_nulls(gender, pc.equal(gender, "").to_numpy(zero_copy_only=False)),
        "age_group": with_nulls(age_group, rng.random(n) < 0.05),
        "marketing_opt_in": pick(("false", "true"), opted_in.astype(np.int64)),
        "updated_at": format_utc(updated_at),
    }
    table = pa.table(rows)

    # A few customers changed their email or moved city later: a second, newer version of their record.
    changed = np.flatnonzero(rng.random(n) < 0.02)
    if len(changed) == 0:
        return table
    newer = table.take(pa.array(changed))
    previous = updated_at[changed]
    later = previous + 1 + (rng.random(len(changed)) * np.minimum(200 * DAY, timeline.end - 1 - previous)).astype(np.int64)
    moved = rng.random(len(changed)) < 0.5
    new_city, new_postcode = _city_and_postcode(rng, country[changed])
    # A move to the same city is no change: those customers change their email instead.
    moved &= pc.not_equal(new_city, newer["city"].combine_chunks()).to_numpy(zero_copy_only=False)
    new_email = pc.replace_substring_regex(newer["email"].combine_chunks(), pattern="@.*$", replacement="@newmail.example.com")
    newer = newer.set_column(newer.schema.get_field_index("city"), "city", pc.if_else(pa.array(moved), new_city, newer["city"].combine_chunks()))
    newer = newer.set_column(
        newer.schema.get_field_index("postal_code"), "postal_code", pc.if_else(pa.array(moved), new_postcode, newer["postal_code"].combine_chunks())
    )
    newer = newer.set_column(newer.schema.get_field_index("email"), "email", pc.if_else(pa.array(moved), newer["email"].combine_chunks(), new_email))
    newer = newer.set_column(newer.schema.get_field_index("updated_at"), "updated_at", format_utc(later))
    return pa.concat_tables([table, newer])
