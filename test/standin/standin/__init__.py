"""Shopify Admin API test stand-in (see ../README.md).

Modules: timefmt (timestamps), pools + catalog (model/generator), mutations,
limits (bucket, faults), stats, routing (Request/Response/route table),
rest (REST rendering + handlers), control (/_control/ API), server (HTTP),
oracle (the Node.js GraphQL oracle: validation, cost, selection trees),
gqlexec (root-field resolvers, the projector, actual cost), graphql, bulk,
orders + orders_gen + orders_rest + orders_graphql (orders).
"""
