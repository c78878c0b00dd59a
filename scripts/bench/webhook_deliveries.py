#!/usr/bin/env python3
"""Signed webhook deliveries for scripts/bench.sh (the webhook listener's
benchmark), written one a line for scripts/bench/webhook_load.lua:

    <X-Shopify-Hmac-Sha256> TAB <X-Shopify-Topic> TAB <raw body>

Usage: webhook_deliveries.py SECRET COUNT PRODUCTS OUT [--seed N]

Each body is a products/update payload of about 4 kB as Shopify sends it
(REST shape, its variants, variant_gids) for one of PRODUCTS products, whose
title and updated_at move on with each round, so that every delivery is a
distinct body that the worker applies as an update.  Ids are above 2^32.
"""
import base64
import hashlib
import hmac
import json
import random
import sys

secret, count, products, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
rnd = random.Random(seed)
BASE = 7_000_000_000


def product(i, rnd_round):
    pid = BASE + i * 100
    variants = []
    for v in range(5):
        variants.append({
            "id": pid + v + 1, "product_id": pid, "title": f"Size {v} / Colour {i % 7}",
            "price": f"{10 + (i * 7 + v) % 90}.{rnd_round % 100:02d}", "sku": f"SKU-{i}-{v}",
            "position": v + 1, "inventory_policy": "deny", "compare_at_price": None,
            "fulfillment_service": "manual", "inventory_management": "shopify",
            "option1": f"Size {v}", "option2": f"Colour {i % 7}", "option3": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": f"2026-12-{1 + rnd_round // 86400 % 28:02d}T{rnd_round // 3600 % 24:02d}:{rnd_round // 60 % 60:02d}:{rnd_round % 60:02d}Z",
            "taxable": True, "barcode": f"{rnd.randrange(10**12, 10**13)}", "grams": 250, "weight": 0.25,
            "weight_unit": "kg", "inventory_item_id": pid + v + 50, "inventory_quantity": rnd.randrange(0, 500),
            "old_inventory_quantity": 10, "requires_shipping": True,
            "admin_graphql_api_id": f"gid://shopify/ProductVariant/{pid + v + 1}",
        })
    ts = f"2026-12-{1 + rnd_round // 86400 % 28:02d}T{rnd_round // 3600 % 24:02d}:{rnd_round // 60 % 60:02d}:{rnd_round % 60:02d}Z"
    return {
        "id": pid, "title": f"Bench product {i} version {rnd_round}", "body_html": "<p>" + "Lorem ipsum dolor sit amet. " * 2 + "</p>",
        "vendor": "Bench", "product_type": "Shirts", "created_at": "2026-01-01T00:00:00Z",
        "handle": f"bench-product-{i}", "updated_at": ts, "published_at": "2026-01-01T00:00:00Z",
        "template_suffix": None, "published_scope": "web", "tags": "bench, webhook, load",
        "status": "active", "admin_graphql_api_id": f"gid://shopify/Product/{pid}",
        "variants": variants,
        "options": [{"id": pid + 90, "product_id": pid, "name": "Size", "position": 1,
                     "values": [f"Size {v}" for v in range(5)]}],
        "images": [], "image": None,
        "variant_gids": [{"admin_graphql_api_id": f"gid://shopify/ProductVariant/{pid + v + 1}", "updated_at": ts}
                         for v in range(5)],
    }


size = 0
with open(out, "w") as f:
    for n in range(count):
        i = n % products
        body = json.dumps(product(i, 1 + n // products), separators=(",", ":"))
        sig = base64.b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()).decode()
        f.write(f"{sig}\tproducts/update\t{body}\n")
        size += len(body)
print(f"{count} deliveries, {size / count:.0f} bytes a body on average")
