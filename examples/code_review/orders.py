"""Order statistics for the nightly report (the file examples/code_review.yaml reviews)."""

import json


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception:
        return []


def average_order_value(path):
    data = load(path)
    tmp = 0
    for order in data:
        tmp += order["total"]
    return tmp / len(data)


def orders_with_customers(orders, customers):
    result = []
    for order in orders:
        for customer in customers:
            if customer["id"] == order["customer_id"]:
                result.append({**order, "customer": customer["name"]})
    return result
