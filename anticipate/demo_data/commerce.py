"""Orders, order lines (returns included) and product reviews for a chunk of customers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .catalog import Catalogue
from .people import CURRENCIES, EUR_TO_CURRENCY, FAVOURITES_PER_CUSTOMER, CustomerChunk
from .text import format_amounts, format_ids, format_integers, pick, with_nulls
from .timeline import DAY, Timeline, format_utc

CHANNELS = ("web", "app", "store")
STATUSES = ("placed", "shipped", "delivered", "cancelled", "returned")
PLACED, SHIPPED, DELIVERED, CANCELLED, RETURNED = range(5)
LINE_DISCOUNT_RATES = np.array([0.10, 0.15, 0.20, 0.25, 0.30])
FREE_SHIPPING_FROM = 50.0
SHIPPING_FEE = 4.95
REVIEW_SHARE = 0.05


@dataclass(frozen=True)
class Purchases:
    orders: pa.Table
    order_items: pa.Table
    reviews: pa.Table
    order_customer: np.ndarray  # customer position within the chunk, per order
    order_time: np.ndarray
    order_channel: np.ndarray
    order_status: np.ndarray
    line_order: np.ndarray  # order position, per purchased (positive) line
    line_product: np.ndarray
    lines_per_order: np.ndarray  # lines written per order, returns included: the last line_number in use


def _channels(rng: np.random.Generator, app_user: np.ndarray) -> np.ndarray:
    draw = rng.random(len(app_user))
    web_share = np.where(app_user, 0.35, 0.75)
    app_share = np.where(app_user, 0.55, 0.10)
    return np.where(draw < web_share, 0, np.where(draw < web_share + app_share, 1, 2))


def _statuses(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    draw = rng.random(len(age))
    settled = np.where(draw < 0.04, CANCELLED, np.where(draw < 0.09, RETURNED, DELIVERED))
    in_transit = np.where(draw < 0.7, SHIPPED, PLACED)
    return np.where(age < 2 * DAY, PLACED, np.where(age < 6 * DAY, in_transit, settled))


def build_purchases(
    rng: np.random.Generator,
    customers: CustomerChunk,
    catalogue: Catalogue,
    timeline: Timeline,
    first_order_number: int,
    first_review_number: int,
) -> Purchases:
    window_start = np.maximum(customers.signup_at, timeline.start)
    expected = customers.purchase_rate * timeline.volume(window_start, customers.active_until)
    orders_per_customer = np.where(customers.never_ordered, 0, rng.poisson(expected))
    order_customer = np.repeat(np.arange(customers.size), orders_per_customer)
    order_time = timeline.sample(rng, window_start[order_customer], customers.active_until[order_customer])
    chronological = np.argsort(order_time, kind="stable")  # order numbers grow with time, as in a shop
    order_customer, order_time = order_customer[chronological], order_time[chronological]
    n_orders = len(order_customer)
    channel = _channels(rng, customers.app_user[order_customer])
    status = _statuses(rng, timeline.end - order_time)
    currency = customers.currency[order_customer]

    # Lines: favourites bought again and again, otherwise a product from a preferred category.
    lines_per_order = 1 + rng.poisson(1.0, n_orders)
    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    line_customer = order_customer[line_order]
    is_repeat = rng.random(len(line_order)) < customers.repeat_propensity[line_customer]
    favourite = customers.favourites[line_customer, rng.integers(0, FAVOURITES_PER_CUSTOMER, len(line_order))]
    explored = catalogue.sample_in_categories(rng, customers.sample_categories(rng, line_customer))
    product = catalogue.make_sellable(rng, np.where(is_repeat, favourite, explored), order_time[line_order])
    quantity = 1 + rng.poisson(np.where(catalogue.consumable[product], 0.7, 0.15))
    unit_price = np.round(catalogue.list_price[product] * EUR_TO_CURRENCY[currency[line_order]], 2)
    # Price-sensitive customers mostly buy items on promotion.
    discounted = rng.random(len(line_order)) < 0.04 + 0.75 * customers.discount_affinity[line_customer]
    rate = LINE_DISCOUNT_RATES[rng.integers(0, len(LINE_DISCOUNT_RATES), len(line_order))]
    line_discount = np.where(discounted, np.round(unit_price * quantity * rate, 2), 0.0)

    subtotal = np.bincount(line_order, weights=unit_price * quantity - line_discount, minlength=n_orders)
    has_coupon = (rng.random(n_orders) < 0.05 + 0.2 * customers.discount_affinity[order_customer]) & (subtotal > 30)
    order_discount = np.where(has_coupon, np.where(rng.random(n_orders) < 0.5, 5.0, 10.0), 0.0)
    shipping = np.where((channel == 2) | (subtotal >= FREE_SHIPPING_FROM), 0.0, SHIPPING_FEE)

    # Returns: every line of a returned order, or one line of a few delivered ones, as negative lines.
    first_line = np.concatenate([[0], np.cumsum(lines_per_order)[:-1]]) if n_orders else np.zeros(0, np.int64)
    partly_returned = (status == DELIVERED) & (lines_per_order >= 2) & (rng.random(n_orders) < 0.03)
    returned_line = np.flatnonzero((status[line_order] == RETURNED) | (partly_returned[line_order] & (np.arange(len(line_order)) == first_line[line_order])))
    all_order = np.concatenate([line_order, line_order[returned_line]])
    all_product = np.concatenate([product, product[returned_line]])
    all_quantity = np.concatenate([quantity, -quantity[returned_line]])
    all_price = np.concatenate([unit_price, unit_price[returned_line]])
    all_discount = np.concatenate([line_discount, -line_discount[returned_line]])
    by_order = np.argsort(all_order, kind="stable")  # purchases first, then their returns
    all_order, all_product, all_quantity, all_price, all_discount = (
        values[by_order] for values in (all_order, all_product, all_quantity, all_price, all_discount)
    )
    lines_written = np.bincount(all_order, minlength=n_orders)
    written_first = np.concatenate([[0], np.cumsum(lines_written)[:-1]]) if n_orders else np.zeros(0, np.int64)
    line_number = np.arange(len(all_order)) - written_first[all_order] + 1

    order_id = format_ids("O", first_order_number + np.arange(n_orders) + 1, 9)
    orders = pa.table(
        {
            "order_id": order_id,
            "customer_id": customers.customer_id.take(pa.array(order_customer)),
            "ordered_at": format_utc(order_time),
            "status": pick(STATUSES, status),
            "channel": pick(CHANNELS, channel),
            "currency": pick(CURRENCIES, currency),
            "shipping_amount": format_amounts(shipping),
            "discount_amount": format_amounts(order_discount),
        }
    )
    order_items = pa.table(
        {
            "order_id": order_id.take(pa.array(all_order)),
            "line_number": format_integers(line_number),
            "product_id": catalogue.table["product_id"].combine_chunks().take(pa.array(all_product)),
            "quantity": format_integers(all_quantity),
            "unit_price": format_amounts(all_price),
            "discount_amount": format_amounts(all_discount),
        }
    )
    reviews = _reviews(rng, customers, catalogue, timeline, order_customer, order_time, status, line_order, product, first_review_number)
    return Purchases(
        orders=orders,
        order_items=order_items,
        reviews=reviews,
        order_customer=order_customer,
        order_time=order_time,
        order_channel=channel,
        order_status=status,
        line_order=line_order,
        line_product=product,
        lines_per_order=lines_written,
    )


def _reviews(rng, customers, catalogue, timeline, order_customer, order_time, status, line_order, product, first_review_number) -> pa.Table:
    """Reviews of about REVIEW_SHARE of received lines, more from engaged customers, rating the product's quality."""
    received = (status[line_order] == DELIVERED) | (status[line_order] == RETURNED)
    reviewed = np.flatnonzero(received & (rng.random(len(line_order)) < REVIEW_SHARE * (0.5 + customers.engagement[order_customer[line_order]] * 1.5)))
    reviewed_at = order_time[line_order[reviewed]] + 2 * DAY + (rng.exponential(7.0, len(reviewed)) * DAY).astype(np.int64)
    reviewed = reviewed[reviewed_at < timeline.end]
    reviewed_at = reviewed_at[reviewed_at < timeline.end]
    was_returned = status[line_order[reviewed]] == RETURNED
    rating = np.clip(np.round(catalogue.quality[product[reviewed]] + rng.normal(0, 0.8, len(reviewed)) - 1.5 * was_returned), 1, 5)
    order_of_review = np.argsort(reviewed_at, kind="stable")
    reviewed, reviewed_at, rating = reviewed[order_of_review], reviewed_at[order_of_review], rating[order_of_review]
    customer_id = customers.customer_id.take(pa.array(order_customer[line_order[reviewed]]))
    return pa.table(
        {
            "review_id": format_ids("R", first_review_number + np.arange(len(reviewed)) + 1, 9),
            "customer_id": with_nulls(customer_id, rng.random(len(reviewed)) < 0.03),  # guest reviews
            "product_id": catalogue.table["product_id"].combine_chunks().take(pa.array(product[reviewed])),
            "rating": format_integers(rating.astype(np.int64)),
            "reviewed_at": format_utc(reviewed_at),
        }
    )
