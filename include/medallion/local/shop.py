"""Generate the example shop database (SQLite) with realistic dirt.

Orders get late updates (a later version of the same order), exact duplicate rows, mixed-case
statuses with stray whitespace, nulls, and e-mails in mixed case — what a silver notebook
must clean. Deterministic for a given seed, so tests can assert exact counts.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled"]
COUNTRIES = ["BR", "PT", "US", "DE", "FR", "MX", "AR", "ES"]
FIRST_DAY = dt.date(2026, 9, 1)
#: The example's source connection (airflow_settings.yaml): a SQLite file this module generates.
EXAMPLE_CONN_ID = "shop_db"


@dataclass(frozen=True)
class ShopStats:
    customers: int
    products: int
    orders: int
    order_rows: int


def _dirty_status(rng: random.Random, status: str) -> str:
    choice = rng.random()
    if choice < 0.1:
        return f" {status.upper()} "
    if choice < 0.2:
        return status.capitalize()
    return status


def generate_shop(
    path: Path,
    *,
    orders: int = 100_000,
    customers: int = 5_000,
    products: int = 500,
    last_day: dt.date = dt.date(2026, 11, 20),
    seed: int = 7,
) -> ShopStats:
    """(Re)create the shop database at ``path``."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    days = (last_day - FIRST_DAY).days + 1
    con = sqlite3.connect(path)
    try:
        con.executescript(
            """
            CREATE TABLE customers (customer_id INTEGER, email TEXT, country TEXT, signup_date TEXT);
            CREATE TABLE products (product_id INTEGER, name TEXT, category TEXT, list_price REAL);
            CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, product_id INTEGER, quantity INTEGER,
                                 unit_price REAL, status TEXT, order_date TEXT, updated_at TEXT);
            """
        )
        con.executemany(
            "INSERT INTO customers VALUES (?,?,?,?)",
            [
                (
                    i,
                    f"  Customer{i}@Example.COM " if i % 17 == 0 else f"customer{i}@example.com",
                    rng.choice(COUNTRIES),
                    str(FIRST_DAY - dt.timedelta(days=rng.randint(0, 900))),
                )
                for i in range(1, customers + 1)
            ],
        )
        prices = {i: round(rng.uniform(2, 400), 2) for i in range(1, products + 1)}
        con.executemany(
            "INSERT INTO products VALUES (?,?,?,?)",
            [(i, f"product {i}", rng.choice(["toys", "books", "garden", "tech"]), prices[i]) for i in prices],
        )
        rows = []
        for order_id in range(1, orders + 1):
            day = FIRST_DAY + dt.timedelta(days=rng.randrange(days))
            product = rng.randint(1, products)
            customer = None if rng.random() < 0.004 else rng.randint(1, customers)
            created = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60)))
            status = rng.choice(STATUSES[:2])
            row = [
                order_id,
                customer,
                product,
                rng.randint(1, 5),
                prices[product],
                _dirty_status(rng, status),
                str(day),
                created.isoformat(sep=" "),
            ]
            rows.append(tuple(row))
            if rng.random() < 0.08:  # late update: a newer version of the order
                updated = created + dt.timedelta(days=rng.randint(0, 3), hours=rng.randint(1, 12))
                row[5] = _dirty_status(rng, rng.choice(STATUSES[2:]))
                row[7] = updated.isoformat(sep=" ")
                rows.append(tuple(row))
            if rng.random() < 0.01:  # exact duplicate delivered twice by the source
                rows.append(rows[-1])
        con.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)", rows)
        con.commit()
        return ShopStats(customers, products, orders, len(rows))
    finally:
        con.close()


def inject_bad_orders(path: Path, day: dt.date, count: int = 25) -> int:
    """Append orders that break the silver contract (negative prices, unknown status)."""
    con = sqlite3.connect(path)
    try:
        start = con.execute("SELECT max(order_id) FROM orders").fetchone()[0] + 1
        stamp = dt.datetime.combine(day, dt.time(12)).isoformat(sep=" ")
        bad = [(start + i, 1, 1, 1, -19.99, "lost", str(day), stamp) for i in range(count)]
        con.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)", bad)
        con.commit()
        return count
    finally:
        con.close()


def inject_refund_order(path: Path, day: dt.date, quantity: int = -100_000) -> int:
    """Append a refund booked as an order (huge negative quantity, customer unknown to the shop).

    Silver accepts it (its contract has no rule on quantity) and the day's revenue turns
    negative, so the gold dbt test ``non_negative`` on ``daily_revenue.revenue`` fails.
    Returns the order id.
    """
    con = sqlite3.connect(path)
    try:
        order_id = con.execute("SELECT max(order_id) FROM orders").fetchone()[0] + 1
        stamp = dt.datetime.combine(day, dt.time(13)).isoformat(sep=" ")
        con.execute(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)", (order_id, 0, 1, quantity, 19.99, "paid", str(day), stamp)
        )
        con.commit()
        return order_id
    finally:
        con.close()


def inject_unparseable_signup(path: Path, signup_date: str = "soon") -> int:
    """Append a customer whose signup date is not a date: the customers notebook's cast raises.

    (DuckDB always rejects the cast; Spark does in ANSI mode.) Returns the customer id.
    """
    con = sqlite3.connect(path)
    try:
        customer_id = con.execute("SELECT max(customer_id) FROM customers").fetchone()[0] + 1
        con.execute(
            "INSERT INTO customers VALUES (?,?,?,?)",
            (customer_id, f"customer{customer_id}@example.com", "PT", signup_date),
        )
        con.commit()
        return customer_id
    finally:
        con.close()


def ensure_example_shop(conn_ids: Iterable[str | None], last_day: dt.date, say: Callable[[str], None]) -> Path | None:
    """Generate the example shop database when a pipeline reads ``shop_db`` and its file is missing
    (a fresh clone has none until ``make demo``); returns the path if it generated it."""
    from medallion.settings import load_settings

    if EXAMPLE_CONN_ID not in set(conn_ids):
        return None
    conn = load_settings().connections.get(EXAMPLE_CONN_ID) or {}
    if conn.get("conn_type") != "sqlite" or not conn.get("host") or Path(conn["host"]).exists():
        return None
    path = Path(conn["host"])
    stats = generate_shop(path, last_day=max(last_day, FIRST_DAY))
    say(
        f"▶ {path} ({EXAMPLE_CONN_ID}) was missing: generated the example shop database "
        f"({stats.orders:,} orders up to {max(last_day, FIRST_DAY)})"
    )
    return path
