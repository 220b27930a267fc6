"""Web events: browsing before buying, free browsing, anonymous visitors, cut into 30-minute sessions."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import CATEGORIES, Catalogue
from .commerce import Purchases
from .people import ANONYMOUS_VISITOR_BASE, CustomerChunk, visitor_ids
from .text import format_ids, pick, with_nulls
from .timeline import DAY, Timeline, format_utc

EVENT_TYPES = ("page_view", "product_view", "search", "add_to_cart", "remove_from_cart", "checkout", "purchase")
PAGE_VIEW, PRODUCT_VIEW, SEARCH, ADD_TO_CART, REMOVE_FROM_CART, CHECKOUT, PURCHASE = range(7)
SESSION_GAP_SECONDS = 30 * 60
DEVICES = ("mobile", "desktop", "tablet")
REFERRERS = ("https://www.google.com/", "https://www.instagram.com/", "https://www.bing.com/", "newsletter", "")
_SLUGS = [re.sub(r"[^a-z]+", "-", entry[0].lower()).strip("-") for entry in CATEGORIES]
#: URLs of events without a product: home, category pages, searches by category, checkout.
_STATIC_URLS = ["/"] + [f"/c/{slug}" for slug in _SLUGS] + [f"/search?q={slug}" for slug in _SLUGS] + ["/checkout", "/checkout/complete"]
ANONYMOUS_VISITORS_PER_CUSTOMER = 0.6


def build_web_events(
    rng: np.random.Generator,
    customers: CustomerChunk,
    purchases: Purchases,
    catalogue: Catalogue,
    timeline: Timeline,
    first_event_number: int,
    first_session_number: int,
    first_anonymous_visitor: int,
) -> tuple[pa.Table, int]:
    """The chunk's web events (text columns, chronological) and the number of sessions they form."""
    parts: list[tuple[np.ndarray, ...]] = []  # (time, customer position or -1, visitor number, event type, product or -1)

    # Browsing precedes buying: views of the product in the days before, then cart, checkout, purchase.
    line_time = purchases.order_time[purchases.line_order]
    line_customer = purchases.order_customer[purchases.line_order]
    online = purchases.order_channel[purchases.line_order] != 2
    views = np.where(rng.random(len(line_time)) < 0.9, 1 + rng.poisson(0.5, len(line_time)), 0)
    viewed = np.repeat(np.arange(len(line_time)), views)
    view_lead = np.clip(rng.exponential(1.5 * DAY, len(viewed)), 300, 10 * DAY).astype(np.int64)
    parts.append((line_time[viewed] - view_lead, line_customer[viewed], None, np.full(len(viewed), PRODUCT_VIEW), purchases.line_product[viewed]))
    carted = np.flatnonzero(online & (rng.random(len(line_time)) < 0.88))
    parts.append((line_time[carted] - rng.integers(60, 1200, len(carted)), line_customer[carted], None, np.full(len(carted), ADD_TO_CART), purchases.line_product[carted]))
    bought = np.flatnonzero(online)
    parts.append((line_time[bought], line_customer[bought], None, np.full(len(bought), PURCHASE), purchases.line_product[bought]))
    checked_out = np.flatnonzero(purchases.order_channel != 2)
    parts.append((purchases.order_time[checked_out] - 30, purchases.order_customer[checked_out], None, np.full(len(checked_out), CHECKOUT), np.full(len(checked_out), -1)))

    # Free browsing while active, more for frequent buyers; a third of customers browsed before signing up.
    window_start = np.maximum(customers.signup_at, timeline.start)
    volume = timeline.volume(window_start, customers.active_until)
    sessions = rng.poisson(1.0 * customers.purchase_rate * volume + 0.003 * volume)
    session_customer = np.repeat(np.arange(customers.size), sessions)
    session_start = timeline.sample(rng, window_start[session_customer], customers.active_until[session_customer])
    pre_signup = np.flatnonzero(rng.random(customers.size) < 0.3)
    session_customer = np.concatenate([session_customer, pre_signup])
    session_start = np.concatenate([session_start, customers.signup_at[pre_signup] - rng.integers(3600, 14 * DAY, len(pre_signup))])
    parts.append(_browse_sessions(rng, customers, catalogue, session_start, session_customer, None))

    # Visitors who never sign up.
    n_visitors = int(round(ANONYMOUS_VISITORS_PER_CUSTOMER * customers.size))
    visitor_sessions = 1 + rng.poisson(0.4, n_visitors)
    visitor = np.repeat(ANONYMOUS_VISITOR_BASE + first_anonymous_visitor + np.arange(n_visitors), visitor_sessions)
    visitor_start = timeline.sample(rng, np.full(len(visitor), timeline.start), np.full(len(visitor), timeline.end))
    parts.append(_browse_sessions(rng, customers, catalogue, visitor_start, None, visitor))

    stamp = np.concatenate([part[0] for part in parts])
    customer = np.concatenate([part[1] for part in parts])
    visitor = np.concatenate([customers.number[part[1]] if part[2] is None else part[2] for part in parts])
    event_type = np.concatenate([part[3] for part in parts])
    product = np.concatenate([part[4] for part in parts])
    kept = (stamp >= timeline.start) & (stamp < timeline.end)
    stamp, customer, visitor, event_type, product = stamp[kept], customer[kept], visitor[kept], event_type[kept], product[kept]
    # Before signing up a customer is only their cookie.
    known = customer >= 0
    known[known] = stamp[known] >= customers.signup_at[customer[known]]

    # Sessions: a visitor's events with no gap over 30 minutes.
    by_visitor = np.lexsort((stamp, visitor))
    stamp, customer, visitor, event_type, product, known = (
        values[by_visitor] for values in (stamp, customer, visitor, event_type, product, known)
    )
    starts_session = np.ones(len(stamp), dtype=bool)
    starts_session[1:] = (visitor[1:] != visitor[:-1]) | (stamp[1:] - stamp[:-1] > SESSION_GAP_SECONDS)
    session = np.cumsum(starts_session) - 1
    n_sessions = int(session[-1]) + 1 if len(session) else 0
    device = rng.choice(len(DEVICES), size=n_sessions, p=[0.55, 0.38, 0.07])[session]
    referrer = rng.choice(len(REFERRERS), size=n_sessions, p=[0.4, 0.12, 0.05, 0.13, 0.3])[session]

    chronological = np.argsort(stamp, kind="stable")
    stamp, customer, visitor, event_type, product, known, session, device, referrer, starts_session = (
        values[chronological] for values in (stamp, customer, visitor, event_type, product, known, session, device, referrer, starts_session)
    )
    n = len(stamp)
    product_ids = catalogue.table["product_id"].combine_chunks().take(pa.array(np.maximum(product, 0)))
    has_product = product >= 0
    static_url = np.where(
        event_type == SEARCH,
        1 + len(_SLUGS) + rng.integers(0, len(_SLUGS), n),
        np.where(event_type == CHECKOUT, len(_STATIC_URLS) - 2, np.where(event_type == PURCHASE, len(_STATIC_URLS) - 1, rng.integers(0, 1 + len(_SLUGS), n))),
    )
    page_url = pc.if_else(pa.array(has_product & (event_type != PURCHASE)), pc.binary_join_element_wise("/products/", product_ids, ""), pick(_STATIC_URLS, static_url))
    referrer_text = pick(REFERRERS, referrer)
    return pa.table(
        {
            "event_id": format_ids("E", first_event_number + np.arange(n) + 1, 11),
            "session_id": format_ids("S", first_session_number + session + 1, 10),
            "customer_id": with_nulls(customers.customer_id.take(pa.array(np.maximum(customer, 0))), ~known),
            "anonymous_id": visitor_ids(visitor),
            "event_type": pick(EVENT_TYPES, event_type),
            "product_id": with_nulls(product_ids, ~has_product),
            "occurred_at": format_utc(stamp),
            "page_url": page_url,
            "referrer": with_nulls(referrer_text, ~starts_session | (referrer == len(REFERRERS) - 1)),
            "device": pick(DEVICES, device),
        }
    ), n_sessions


def _browse_sessions(rng, customers, catalogue, session_start, session_customer, visitor):
    """Events of browsing sessions: a landing page or search, then mostly product views."""
    n_sessions = len(session_start)
    events = 1 + rng.poisson(1.5, n_sessions)
    owner = np.repeat(np.arange(n_sessions), events)
    first_of_session = np.concatenate([[0], np.cumsum(events)[:-1]]) if n_sessions else np.zeros(0, np.int64)
    position = np.arange(len(owner)) - first_of_session[owner]
    gaps = rng.exponential(80.0, len(owner)).astype(np.int64)
    gaps[position == 0] = 0
    offset = np.cumsum(gaps)
    offset -= offset[first_of_session[owner]]
    stamp = session_start[owner] + offset
    landing = np.where(rng.random(len(owner)) < 0.6, PAGE_VIEW, SEARCH)
    later = rng.choice(
        [PRODUCT_VIEW, PAGE_VIEW, SEARCH, ADD_TO_CART, REMOVE_FROM_CART], size=len(owner), p=[0.6, 0.15, 0.12, 0.09, 0.04]
    )
    event_type = np.where(position == 0, landing, later)
    if session_customer is not None:
        customer = session_customer[owner]
        category = customers.sample_categories(rng, customer)
        visitor_number = None
    else:
        customer = np.full(len(owner), -1)
        category = rng.integers(0, catalogue.n_categories, len(owner))
        visitor_number = visitor[owner]
    product = catalogue.make_sellable(rng, catalogue.sample_in_categories(rng, category), stamp)
    product = np.where(np.isin(event_type, (PRODUCT_VIEW, ADD_TO_CART, REMOVE_FROM_CART)), product, -1)
    return stamp, customer, visitor_number, event_type, product
