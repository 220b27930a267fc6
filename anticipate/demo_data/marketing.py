"""Marketing interactions: weekly email campaigns (send, open, click) and social activity with sentiment."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .people import CustomerChunk
from .text import format_amounts, format_ids, pick, with_nulls
from .timeline import DAY, Timeline, format_with_offset

CAMPAIGN_EVERY_DAYS = 14  # fortnightly: about 12 JSON Lines per customer per year (weekly made 7 GB at 1M customers)
SOCIAL_NETWORKS = ("instagram", "facebook", "tiktok", "x")
SOCIAL_TYPES = ("like", "share", "comment", "mention")
INTERACTION_TYPES = ("send", "open", "click") + SOCIAL_TYPES


def campaign_times(timeline: Timeline) -> np.ndarray:
    """A campaign every week at 09:00 UTC from the first day of history."""
    return timeline.start + 9 * 3600 + np.arange(0, timeline.days, CAMPAIGN_EVERY_DAYS) * DAY


def build_marketing(rng: np.random.Generator, customers: CustomerChunk, timeline: Timeline, first_interaction_number: int) -> pa.Table:
    campaigns = campaign_times(timeline)
    # Opted-in customers get most campaigns once signed up; opening and clicking follow engagement and
    # fall away after a customer lapses, so engagement carries the same signal as buying.
    received = (
        customers.opted_in[:, None]
        & (campaigns[None, :] >= customers.signup_at[:, None])
        & (rng.random((customers.size, len(campaigns))) < 0.85)
    )
    customer, campaign = np.nonzero(received)
    sent_at = campaigns[campaign] + rng.integers(0, 2 * 3600, len(campaign))
    lapsed = sent_at > customers.active_until[customer]
    open_probability = customers.engagement[customer] * np.where(lapsed, 0.25, 1.0)
    opened = np.flatnonzero(rng.random(len(customer)) < open_probability)
    opened_at = sent_at[opened] + rng.exponential(6 * 3600, len(opened)).astype(np.int64) + 60
    clicked = opened[rng.random(len(opened)) < 0.15 + 0.35 * customers.engagement[customer[opened]]]
    clicked_at = opened_at[np.searchsorted(opened, clicked)] + rng.exponential(300, len(clicked)).astype(np.int64) + 5

    # Social: a minority are active, at a steady rate while they are customers.
    social_rate = np.where(rng.random(customers.size) < 0.15, rng.gamma(1.0, 0.5, customers.size), 0.0)  # per month
    start = np.maximum(customers.signup_at, timeline.start)
    months = np.maximum(customers.active_until - start, 0) / (30 * DAY)
    social_customer = np.repeat(np.arange(customers.size), rng.poisson(social_rate * months))
    social_at = timeline.sample(rng, start[social_customer], customers.active_until[social_customer])
    social_type = rng.choice(len(SOCIAL_TYPES), size=len(social_customer), p=[0.5, 0.15, 0.2, 0.15])
    centre = np.array([0.6, 0.45, 0.0, 0.0])[social_type] + np.where(social_type >= 2, customers.mood[social_customer], 0.0)
    sentiment = np.clip(np.round(rng.normal(centre, 0.3), 2), -1.0, 1.0)
    recent_campaign = np.searchsorted(campaigns, social_at, side="right") - 1
    social_campaign = np.where((rng.random(len(social_customer)) < 0.5) & (recent_campaign >= 0), recent_campaign, -1)

    email_count = len(customer) + len(opened) + len(clicked)
    all_customer = np.concatenate([customer, customer[opened], customer[clicked], social_customer])
    all_at = np.concatenate([sent_at, opened_at, clicked_at, social_at])
    all_type = np.concatenate([np.zeros(len(customer), np.int64), np.ones(len(opened), np.int64), np.full(len(clicked), 2), 3 + social_type])
    all_campaign = np.concatenate([campaign, campaign[opened], campaign[clicked], social_campaign])
    all_sentiment = np.concatenate([np.zeros(email_count), sentiment])
    channel = np.concatenate([np.zeros(email_count, np.int64), 1 + rng.integers(0, len(SOCIAL_NETWORKS), len(social_customer))])
    kept = all_at < timeline.end
    order = np.argsort(all_at[kept], kind="stable")
    all_customer, all_at, all_type, all_campaign, all_sentiment, channel = (
        values[kept][order] for values in (all_customer, all_at, all_type, all_campaign, all_sentiment, channel)
    )
    is_email = all_type < 3
    n = len(all_at)
    return pa.table(
        {
            "interaction_id": format_ids("M", first_interaction_number + np.arange(n) + 1, 10),
            "customer_id": customers.customer_id.take(pa.array(all_customer)),
            "channel": pick(("email",) + SOCIAL_NETWORKS, channel),
            "interaction_type": pick(INTERACTION_TYPES, all_type),
            "campaign_id": with_nulls(format_ids("CMP", np.maximum(all_campaign, 0) + 1, 4), all_campaign < 0),
            # Local time with the customer's offset: exports from marketing tools rarely use UTC.
            "occurred_at": format_with_offset(all_at, customers.utc_offset_minutes[all_customer]),
            "sentiment": with_nulls(format_amounts(all_sentiment), is_email),
        }
    )
