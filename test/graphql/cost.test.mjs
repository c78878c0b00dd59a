// cost.test.mjs -- the cost rules (cost.mjs) and the request checks (validate.mjs)
// against Shopify's published 2026-07 and 2025-10 schemas.
//   node --test test/graphql/      (after scripts/install-node-deps.sh)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'graphql';
import { loadSchema } from './schema.mjs';
import { requestedCost, actualCost } from './cost.mjs';
import { analyze } from './validate.mjs';

const S = loadSchema('2026-07');
const cost = (q, v = {}) => requestedCost(S, parse(q), v);

const MONEY = 'totalPriceSet { shopMoney { amount currencyCode } } subtotalPriceSet { shopMoney { amount } } '
  + 'totalTaxSet { shopMoney { amount } } totalDiscountsSet { shopMoney { amount } } totalRefundedSet { shopMoney { amount } }';
const LINES = 'id sku title quantity variant { id } product { id } originalUnitPriceSet { shopMoney { amount } }';
const ORDERS = `query O($first: Int!, $lines: Int!) { orders(first: $first, sortKey: UPDATED_AT) {
  pageInfo { hasNextPage endCursor } nodes { id name ${MONEY}
  lineItems(first: $lines) { pageInfo { hasNextPage endCursor } nodes { ${LINES} } } } } }`;
const PRODUCTS = `query P($first: Int!, $v: Int!) { products(first: $first, sortKey: UPDATED_AT) {
  pageInfo { hasNextPage endCursor } nodes { id title tags updatedAt
  variants(first: $v) { pageInfo { hasNextPage endCursor } nodes { id sku price inventoryItem { id } } } } } }`;

test('the shared docs example: orders(first: 40) with 10 line items costs 2522', () => {
  assert.equal(cost(ORDERS, { first: 40, lines: 10 }), 2 + 40 * (1 + 10 + 2 + 10 * 5));
  assert.equal(cost(ORDERS, { first: 40, lines: 10 }), 2522);
});

test('products page: 2 + first x (1 + 2 + variantsFirst x 2)', () => {
  assert.equal(cost(PRODUCTS, { first: 40, v: 10 }), 922);
  assert.equal(cost(PRODUCTS, { first: 10, v: 5 }), 2 + 10 * (3 + 2 * 5));
});

test('literals and variables price alike; last counts like first', () => {
  const lit = cost('{ products(first: 7) { nodes { id } } }');
  assert.equal(lit, 2 + 7);
  assert.equal(cost('query Q($n: Int) { products(first: $n) { nodes { id } } }', { n: 7 }), lit);
  assert.equal(cost('{ products(last: 7) { nodes { id } } }'), lit);
});

test('scalars and enums 0, objects 1, pageInfo/edges/node/cursor nothing more', () => {
  assert.equal(cost('{ shop { name currencyCode } }'), 1);
  assert.equal(cost('{ shop { name plan { publicDisplayName } } }'), 2);
  assert.equal(cost('{ productsCount { count precision } }'), 1);
  const edges = cost('{ products(first: 3) { edges { cursor node { id } } pageInfo { hasNextPage } } }');
  assert.equal(edges, 2 + 3 * 1);
});

test('nodes and edges { node } both selected: the larger one', () => {
  const q = '{ products(first: 4) { nodes { id } edges { node { id options { id } } } } }';
  assert.equal(cost(q), 2 + 4 * (1 + 1));
});

test('an interface costs its dearest possible selection', () => {
  const q = `{ node(id: "gid://shopify/Product/1") { id
    ... on BulkOperation { status }
    ... on Product { title variants(first: 3) { nodes { id } } }
    ... on Order { name totalPriceSet { shopMoney { amount } } } } }`;
  assert.equal(cost(q), 1 + (2 + 3 * 1));
  assert.equal(cost('query S($id: ID!) { node(id: $id) { ... on BulkOperation { id status url } } }',
    { id: 'gid://shopify/BulkOperation/1' }), 1);
});

test('fragments cost as if written inline', () => {
  const inline = cost('{ products(first: 5) { nodes { id variants(first: 2) { nodes { inventoryItem { id } } } } } }');
  const spread = cost(`query { products(first: 5) { nodes { ...P } } }
    fragment P on Product { id variants(first: 2) { nodes { ...V } } }
    fragment V on ProductVariant { inventoryItem { id } }`);
  assert.equal(spread, inline);
  assert.equal(inline, 2 + 5 * (1 + 2 + 2 * 2));
});

test('a mutation field costs 10 with its payload, connections below it add', () => {
  assert.equal(cost('mutation { bulkOperationRunQuery(query: "{ products { edges { node { id } } } }") '
    + '{ bulkOperation { id status } userErrors { field message code } } }'), 10);
  assert.equal(cost('mutation { bulkOperationCancel(id: "gid://shopify/BulkOperation/1") '
    + '{ bulkOperation { id status } userErrors { field message } } }'), 10);
});

test('actual cost: what was returned', () => {
  const doc = parse(PRODUCTS);
  const v = (n) => Array.from({ length: n }, (_, i) => ({ id: `v${i}`, sku: null, price: '1.00', inventoryItem: { id: 'i' } }));
  const data = { products: { pageInfo: { hasNextPage: false, endCursor: 'x' }, nodes: [
    { id: 'p1', title: 't', tags: [], updatedAt: 'x', variants: { pageInfo: {}, nodes: v(3) } },
    { id: 'p2', title: 't', tags: [], updatedAt: 'x', variants: { pageInfo: {}, nodes: v(1) } }] } };
  assert.equal(actualCost(S, doc, { first: 40, v: 10 }, data), 2 + (3 + 2 * 3) + (3 + 2 * 1));
  assert.equal(actualCost(S, doc, { first: 40, v: 10 }, { products: { pageInfo: {}, nodes: [] } }), 2);
  // a null object costs nothing, nor anything below it
  const lines = parse(`{ order(id: "gid://shopify/Order/1") { id lineItems(first: 5) { nodes { ${LINES} } } } }`);
  const line = (variant) => ({ id: 'l', sku: null, title: 't', quantity: 1, variant, product: variant,
    originalUnitPriceSet: { shopMoney: { amount: '1.0' } } });
  assert.equal(actualCost(S, lines, {}, { order: { id: 'o', lineItems: { nodes: [line({ id: 'v' }), line(null)] } } }),
    1 + 2 + (1 + 1 + 1 + 2) + (1 + 2));
  assert.equal(actualCost(S, lines, {}, { order: null }), 0);
  assert.equal(actualCost(S, parse('{ node(id: "x") { ... on BulkOperation { id } } }'), {}, { node: { id: 'x' } }), 1);
});

test('validation: Shopify-phrased errors, deprecations, version differences', () => {
  let r = analyze(S, { query: '{ shop { nope } }' });
  assert.equal(r.errors[0].message, "Field 'nope' doesn't exist on type 'Shop'");
  assert.equal(r.errors[0].extensions.code, 'undefinedField');
  r = analyze(S, { query: '{ products(first: "x") { nodes { id } } }' });
  assert.equal(r.errors[0].extensions.code, 'argumentLiteralsIncompatible');
  r = analyze(S, { query: 'query Q($n: String) { products(first: $n) { nodes { id } } }' });
  assert.equal(r.errors[0].extensions.code, 'variableMismatch');
  r = analyze(S, { query: 'mutation { bulkOperationRunQuery { userErrors { message } } }' });
  assert.equal(r.errors[0].extensions.code, 'missingRequiredArguments');
  r = analyze(S, { query: '{ shop { plan { displayName } } }' });
  assert.deepEqual(r.errors, []);
  assert.match(r.deprecated[0].message, /ShopPlan\.displayName' is deprecated/);
  r = analyze(S, { query: '{ products { nodes { id } } }' });
  assert.equal(r.errors[0].message, 'you must provide one of first or last');
  const old = loadSchema('2025-10');
  const q = '{ bulkOperation(id: "gid://shopify/BulkOperation/1") { id } }';
  assert.deepEqual(analyze(S, { query: q }).errors, []);
  assert.equal(analyze(old, { query: q }).errors[0].extensions.code, 'undefinedField');
  assert.equal(analyze(old, { query: 'mutation { bulkOperationRunQuery(query: "x") { userErrors { code } } }' })
    .tree.fields[0].args.groupObjects, true, '2025-10 groups objects by default');
  assert.equal(analyze(S, { query: 'mutation { bulkOperationRunQuery(query: "x") { userErrors { code } } }' })
    .tree.fields[0].args.groupObjects, false, '2026-07 does not');
});

test('bulk rules: no first needed, at most 5 connections, nesting depth at most 2', () => {
  const bulk = (query) => analyze(S, { query, bulk: true }).errors.map((e) => e.message);
  assert.deepEqual(bulk('{ products { edges { node { id variants { edges { node { id } } } } } } }'), []);
  assert.deepEqual(bulk(`{ orders { edges { node { id lineItems { edges { node { id } } } } } } }`), []);
  assert.match(bulk(`{ products { edges { node { id variants { edges { node { id
    sellingPlanGroups { edges { node { id } } } } } } } } } }`)[0], /nesting depth greater than 2/);
  assert.match(bulk(`{ products { edges { node { id a: variants { nodes { id } } b: variants { nodes { id } }
    c: variants { nodes { id } } d: variants { nodes { id } } e: variants { nodes { id } } } } } }`)[0],
  /more than 5 connections/);
  assert.match(bulk('{ shop { name } }')[0], /at least one connection/);
});
