#!/usr/bin/env node
// The benchmark's baseline: what a user would run instead of the extension.
// A short sync script around Shopify's official Node client
// (@shopify/admin-api-client, REST or GraphQL) and node-postgres: it pages
// through the whole catalog and upserts every page into a plain table
// (client_products, the columns of shopify.products) with one statement per
// page.  Written as a careful user would write it: keep-alive connections
// (Node's fetch), a pg pool, one prepared INSERT ... SELECT FROM unnest(...)
// ON CONFLICT DO UPDATE ... WHERE <the row differs> per page, and the next
// page fetched while the current one is written (--no-prefetch: one after
// the other, as most such scripts do).
//
//   node client_sync.mjs --base-url http://127.0.0.1:PORT --shop x.myshopify.com \
//        [--token T | env SHOPIFY_ACCESS_TOKEN] [--api-version 2026-07] --api rest|graphql \
//        --pghost SOCKET_DIR --pgport PORT --pgdatabase DB [--pguser U] \
//        [--shop-id 1] [--table client_products] [--truncate] [--no-prefetch] \
//        [--variants-first 10] [--products-first N] [--deps DIR] [--fetch-only]
//        [--like-mirror]
//
// --like-mirror: create --table like shopify.products (its indexes, checks, a
// foreign key to shopify.stores) instead of the plain table with only a primary key.
// --fetch-only: page through the catalog and write nothing (the time to
// fetch the same pages, the benchmark's baseline beside COPY).
//
// Each page is written by one statement, which is its own transaction
// (autocommit: BEGIN/COMMIT around a single statement would only add two
// round trips).  REST: products.json?limit=250 with the benchmark's fields,
// following Link rel="next".  GraphQL: products(first: N, sortKey:
// UPDATED_AT) with variants(first: M) (M = --variants-first, 10; N sized to
// Shopify's 1,000-point query limit, 2 + N(3 + 2M): 43 for M = 10), and
// product(id:) { variants(first: 250, after:) } for a product with more; the
// cost bucket of each answer is followed so that no request is THROTTLED.
//
// --base-url: where the API really is (the local stand-in): the clients are
// built for https://<shop>, as for Shopify, and their fetch (customFetchApi)
// sends each request to the same path and query under --base-url instead.
// Without --base-url the script talks to https://<shop> itself.
// --deps: a folder whose node_modules holds @shopify/admin-api-client and pg
// (default: test/graphql of this repository, where scripts/install-node-deps.sh
// installs them; env CLIENT_SYNC_DEPS).  PG* environment variables work as
// usual for anything not given.
//
// Prints one JSON line: {"variants", "products", "pages", "seconds" (wall,
// first request to last commit), "fetch_seconds" (time the loop waited for
// the next page: HTTP, JSON parsing, its row arrays), "db_seconds" (time in the upsert
// statements), plus "http_seconds" (sum of request times, overlapping the
// writes when prefetching), "requests", "rows_written" (rows inserted or
// changed), "api", "prefetch"}.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values: opt } = parseArgs({
  options: {
    'base-url': { type: 'string', default: process.env.SHOPIFY_BASE_URL },
    shop: { type: 'string', default: process.env.SHOPIFY_SHOP },
    token: { type: 'string', default: process.env.SHOPIFY_ACCESS_TOKEN },
    'api-version': { type: 'string', default: process.env.SHOPIFY_API_VERSION || '2026-07' },
    api: { type: 'string', default: 'rest' },
    pghost: { type: 'string', default: process.env.PGHOST },
    pgport: { type: 'string', default: process.env.PGPORT },
    pgdatabase: { type: 'string', default: process.env.PGDATABASE },
    pguser: { type: 'string', default: process.env.PGUSER },
    'shop-id': { type: 'string', default: '1' },
    table: { type: 'string', default: 'client_products' },
    truncate: { type: 'boolean', default: false },
    'no-prefetch': { type: 'boolean', default: false },
    'fetch-only': { type: 'boolean', default: false },
    'like-mirror': { type: 'boolean', default: false },
    'variants-first': { type: 'string', default: '10' },
    'products-first': { type: 'string' },
    deps: { type: 'string', default: process.env.CLIENT_SYNC_DEPS },
  },
  strict: true,
});

function die(msg) {
  process.stderr.write(`client_sync: ${msg}\n`);
  process.exit(2);
}
if (!opt.shop) die('--shop is required');
if (!opt.token) die('--token (or SHOPIFY_ACCESS_TOKEN) is required');
if (opt.api !== 'rest' && opt.api !== 'graphql') die('--api is rest or graphql');
if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(opt.table)) die('bad --table');

const here = path.dirname(fileURLToPath(import.meta.url));
const deps = opt.deps || path.resolve(here, '../../test/graphql');
const require = createRequire(path.join(deps, 'package.json'));
const { createAdminRestApiClient, createAdminApiClient } = require('@shopify/admin-api-client');
const pg = require('pg');

const SHOP_ID = opt['shop-id'];
const TABLE = opt.table;
const PREFETCH = !opt['no-prefetch'];
const MAX_QUERY_COST = 1000;
const VARIANTS_FIRST = Math.min(250, Math.max(1, parseInt(opt['variants-first'], 10)));
// products(first: N) { variants(first: M) } costs 2 + N * (3 + 2M)
const PRODUCTS_FIRST = opt['products-first']
  ? parseInt(opt['products-first'], 10)
  : Math.min(250, Math.floor((MAX_QUERY_COST - 2) / (3 + 2 * VARIANTS_FIRST)));
const VARIANT_PAGE = 250;                 // follow-up variant pages: 3 + 2 * 250 = 503

// -- Shopify clients -------------------------------------------------------------------
// The stand-in is reached by rewriting the URL the clients build
// (https://<shop>/admin/api/...) to --base-url; the rest of the request
// (method, headers with the access token, body) is the library's.
const shopOrigin = `https://${opt.shop}`;
const baseUrl = opt['base-url'] ? opt['base-url'].replace(/\/+$/, '') : null;
const customFetchApi = baseUrl
  ? (url, init) => fetch(String(url).startsWith(shopOrigin)
    ? baseUrl + String(url).slice(shopOrigin.length) : url, init)
  : fetch;
const logger = (entry) => {          // the library's notices, kept off stdout
  if (entry.type === 'Unsupported_Api_Version' || entry.type === 'HTTP-Retry')
    process.stderr.write(`client_sync: ${entry.type}\n`);
};
const clientOpts = {
  storeDomain: opt.shop, apiVersion: opt['api-version'], accessToken: opt.token,
  customFetchApi, logger, retries: 3,
};

const stats = { variants: 0, products: 0, pages: 0, requests: 0, rowsWritten: 0,
  fetchWait: 0, http: 0, db: 0 };
const now = () => performance.now() / 1000;
const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));

// -- the table and the upsert ----------------------------------------------------------
const COLS = [            // [column, array type], in the order of the unnest() arguments
  ['sku_id', 'bigint'], ['product_id', 'bigint'], ['sku', 'text'], ['title', 'text'],
  ['variant_title', 'text'], ['vendor', 'text'], ['product_type', 'text'], ['handle', 'text'],
  ['status', 'text'], ['tags', 'text'], ['price', 'numeric'], ['compare_at_price', 'numeric'],
  ['barcode', 'text'], ['inventory_quantity', 'integer'], ['inventory_item_id', 'bigint'],
  ['position', 'integer'], ['shopify_updated_at', 'timestamptz'],
  ['product_updated_at', 'timestamptz'],
];
const CREATE = `CREATE TABLE IF NOT EXISTS ${TABLE} (
    sku_id              bigint PRIMARY KEY,
    shop_id             bigint NOT NULL,
    product_id          bigint NOT NULL,
    sku                 text,
    title               text,
    variant_title       text,
    vendor              text,
    product_type        text,
    handle              text,
    status              text,
    tags                text,
    price               numeric,
    compare_at_price    numeric,
    barcode             text,
    inventory_quantity  integer,
    inventory_item_id   bigint,
    position            integer,
    is_active           boolean NOT NULL DEFAULT true,
    shopify_updated_at  timestamptz,
    product_updated_at  timestamptz,
    first_synced_at     timestamptz NOT NULL DEFAULT now(),
    last_synced_at      timestamptz NOT NULL DEFAULT now(),
    deactivated_at      timestamptz)`;
// --like-mirror: the same table as the extension's (its indexes, checks and
// the foreign key to shopify.stores), for a like-for-like write cost
const CREATE_LIKE = [
  `CREATE TABLE IF NOT EXISTS ${TABLE} (LIKE shopify.products INCLUDING ALL)`,
  `DO $$ BEGIN
     ALTER TABLE ${TABLE} ADD CONSTRAINT ${TABLE.replace('.', '_')}_shop_fkey
       FOREIGN KEY (shop_id) REFERENCES shopify.stores (shop_id) ON DELETE CASCADE;
   EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
];
const names = COLS.map(([c]) => c);
const UPSERT = {
  name: 'client_sync_upsert',
  text: `INSERT INTO ${TABLE} AS p (shop_id, ${names.join(', ')})
SELECT $1::bigint, u.* FROM unnest(${COLS.map(([, t], i) => `$${i + 2}::${t}[]`).join(', ')})
    AS u(${names.join(', ')})
ON CONFLICT (sku_id) DO UPDATE SET
    shop_id = EXCLUDED.shop_id, ${names.slice(1).map((c) => `${c} = EXCLUDED.${c}`).join(', ')},
    is_active = true, deactivated_at = NULL, last_synced_at = now()
WHERE (p.shop_id, ${names.slice(1).map((c) => `p.${c}`).join(', ')}, p.is_active, p.deactivated_at)
    IS DISTINCT FROM
      (EXCLUDED.shop_id, ${names.slice(1).map((c) => `EXCLUDED.${c}`).join(', ')}, true, NULL::timestamptz)`,
};

const pool = new pg.Pool({
  host: opt.pghost, port: opt.pgport ? parseInt(opt.pgport, 10) : undefined,
  database: opt.pgdatabase, user: opt.pguser, max: 2,
});

// rows: { sku_id: [...], product_id: [...], ... }, one array per column;
// written by one statement, its own transaction (autocommit).
function newRows() {
  const r = {};
  for (const c of names) r[c] = [];
  return r;
}
async function writePage(rows) {
  const n = rows.sku_id.length;
  if (n === 0) return;
  if (opt['fetch-only']) {
    stats.variants += n;                   // the benchmark's "fetch the same pages"
    return;
  }
  const t0 = now();
  const res = await pool.query({ ...UPSERT, values: [SHOP_ID, ...names.map((c) => rows[c])] });
  stats.db += now() - t0;
  stats.rowsWritten += res.rowCount;
  stats.variants += n;
}

// -- REST: products.json, following Link rel="next" --------------------------------------
const FIELDS = 'id,title,vendor,product_type,handle,status,tags,updated_at,variants';

// Link: <https://...products.json?limit=250&fields=id,title,...&page_info=X>; rel="previous", <...>; rel="next"
// (the URLs hold commas: match the <...> parts, do not split on ',')
function nextPageInfo(link) {
  for (const m of (link || '').matchAll(/<([^>]*)>\s*;\s*rel="?([^";,]*)"?/g)) {
    if (m[2] === 'next') return new URL(m[1]).searchParams.get('page_info');
  }
  return null;
}

function makeRest() {
  const rest = createAdminRestApiClient({ ...clientOpts, retries: 0 });
  return async function fetchPage(pageInfo) {
    const searchParams = { limit: 250, fields: FIELDS };
    if (pageInfo) searchParams.page_info = pageInfo;
    const t0 = now();
    let res;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await rest.get('products', { searchParams });
      } catch (e) {                       // network error
        if (attempt >= 5) throw e;
        await sleep(attempt);
        continue;
      }
      stats.requests++;
      if (res.ok) break;
      // the REST bucket (429) and transient errors: wait Retry-After seconds
      // (the library's own retry reads it as milliseconds), then again
      if (attempt >= 5 || ![429, 500, 502, 503, 504].includes(res.status))
        throw new Error(`products.json: HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      await sleep(parseFloat(res.headers.get('retry-after')) || attempt);
    }
    const body = await res.json();
    stats.http += now() - t0;
    const rows = newRows();
    for (const p of body.products) {
      for (const v of p.variants || []) {
        rows.sku_id.push(v.id);
        rows.product_id.push(p.id);
        rows.sku.push(v.sku ?? null);
        rows.title.push(p.title ?? null);
        rows.variant_title.push(v.title ?? null);
        rows.vendor.push(p.vendor ?? null);
        rows.product_type.push(p.product_type ?? null);
        rows.handle.push(p.handle ?? null);
        rows.status.push(p.status ?? null);
        rows.tags.push(p.tags ?? null);
        rows.price.push(v.price ?? null);
        rows.compare_at_price.push(v.compare_at_price ?? null);
        rows.barcode.push(v.barcode ?? null);
        rows.inventory_quantity.push(v.inventory_quantity ?? null);
        rows.inventory_item_id.push(v.inventory_item_id ?? null);
        rows.position.push(v.position ?? null);
        rows.shopify_updated_at.push(v.updated_at ?? null);
        rows.product_updated_at.push(p.updated_at ?? null);
      }
    }
    return { rows, products: body.products.length,
      next: nextPageInfo(res.headers.get('link')) };
  };
}

// -- GraphQL: products(first:, after:, sortKey: UPDATED_AT) ------------------------------
const VARIANT_FIELDS = `id sku title barcode price compareAtPrice inventoryQuantity position
        updatedAt inventoryItem { id }`;
const PRODUCTS_QUERY = `query ClientSyncProducts($first: Int!, $after: String, $variantsFirst: Int!) {
  products(first: $first, after: $after, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id title vendor productType handle status tags updatedAt
      variants(first: $variantsFirst) {
        pageInfo { hasNextPage endCursor }
        nodes { ${VARIANT_FIELDS} }
      }
    }
  }
}`;
const VARIANTS_QUERY = `query ClientSyncVariants($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    variants(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ${VARIANT_FIELDS} }
    }
  }
}`;
const gidNum = (gid) => (gid == null ? null : gid.slice(gid.lastIndexOf('/') + 1));

function makeGraphql() {
  const gql = createAdminApiClient(clientOpts);
  // the cost bucket as the last answer left it: a request that would be
  // THROTTLED waits for the points it asks for first
  let bucket = null;                  // { available, restore, maximum, at }
  const pointsWait = (cost) => {
    if (!bucket) return 0;
    const avail = Math.min(bucket.maximum, bucket.available + bucket.restore * (now() - bucket.at));
    return avail >= cost ? 0 : (cost - avail) / bucket.restore + 0.01;
  };
  // one request (cost: the points it asks for); waits out THROTTLED (the
  // library retries only HTTP 429/503)
  async function request(query, variables, cost) {
    for (;;) {
      const t0 = now();
      const wait = pointsWait(cost);
      if (wait > 0) await sleep(wait);
      const res = await gql.request(query, { variables });
      stats.requests++;
      stats.http += now() - t0;
      const ts = res.extensions?.cost?.throttleStatus;
      if (ts) bucket = { available: ts.currentlyAvailable, restore: ts.restoreRate || 100,
        maximum: ts.maximumAvailable, at: now() };
      const errs = res.errors?.graphQLErrors;
      if (errs?.some((e) => e.extensions?.code === 'THROTTLED')) {
        if (!ts) await sleep(1);
        continue;
      }
      if (res.errors) {
        throw new Error(`GraphQL: ${res.errors.message} ${JSON.stringify(errs ?? res.errors.networkStatusCode)}`);
      }
      return res.data;
    }
  }
  async function restOfVariants(p) {
    const all = p.variants.nodes.slice();
    let info = p.variants.pageInfo;
    while (info.hasNextPage) {
      const d = await request(VARIANTS_QUERY, { id: p.id, first: VARIANT_PAGE, after: info.endCursor },
        3 + 2 * VARIANT_PAGE);
      if (!d.product) break;               // deleted meanwhile: keep what was listed
      all.push(...d.product.variants.nodes);
      info = d.product.variants.pageInfo;
    }
    return all;
  }
  return async function fetchPage(after) {
    const d = await request(PRODUCTS_QUERY,
      { first: PRODUCTS_FIRST, after, variantsFirst: VARIANTS_FIRST },
      2 + PRODUCTS_FIRST * (3 + 2 * VARIANTS_FIRST));
    const nodes = d.products.nodes;
    // products with more variants than the first page holds: their further
    // pages, one request at a time (side by side, they would only queue up
    // on the cost bucket: each asks for 503 points)
    const full = [];
    for (const p of nodes)
      full.push(p.variants.pageInfo.hasNextPage ? await restOfVariants(p) : p.variants.nodes);
    const rows = newRows();
    nodes.forEach((p, k) => {
      const pid = gidNum(p.id);
      const status = p.status ? p.status.toLowerCase() : null;
      const tags = Array.isArray(p.tags) ? p.tags.join(', ') : p.tags ?? null;
      for (const v of full[k]) {
        rows.sku_id.push(gidNum(v.id));
        rows.product_id.push(pid);
        rows.sku.push(v.sku ?? null);
        rows.title.push(p.title ?? null);
        rows.variant_title.push(v.title ?? null);
        rows.vendor.push(p.vendor ?? null);
        rows.product_type.push(p.productType ?? null);
        rows.handle.push(p.handle ?? null);
        rows.status.push(status);
        rows.tags.push(tags);
        rows.price.push(v.price ?? null);
        rows.compare_at_price.push(v.compareAtPrice ?? null);
        rows.barcode.push(v.barcode ?? null);
        rows.inventory_quantity.push(v.inventoryQuantity ?? null);
        rows.inventory_item_id.push(gidNum(v.inventoryItem?.id));
        rows.position.push(v.position ?? null);
        rows.shopify_updated_at.push(v.updatedAt ?? null);
        rows.product_updated_at.push(p.updatedAt ?? null);
      }
    });
    const pi = d.products.pageInfo;
    return { rows, products: nodes.length, next: pi.hasNextPage ? pi.endCursor : null };
  };
}

// -- the sync ----------------------------------------------------------------------------
async function main() {
  if (!opt['fetch-only']) {
    if (opt['like-mirror']) for (const q of CREATE_LIKE) await pool.query(q);
    else await pool.query(CREATE);
    if (opt.truncate) await pool.query(`TRUNCATE ${TABLE}`);
  }
  const fetchPage = opt.api === 'rest' ? makeRest() : makeGraphql();
  const start = now();
  const timed = async (p) => {
    const t0 = now();
    try { return await p; } finally { stats.fetchWait += now() - t0; }
  };
  let pending = fetchPage(null);
  while (pending) {
    const page = await timed(pending);
    stats.pages++;
    stats.products += page.products;
    pending = null;
    if (page.next && PREFETCH) {
      pending = fetchPage(page.next);
      pending.catch(() => {});             // its error is reported when awaited
    }
    await writePage(page.rows);
    if (page.next && !PREFETCH) pending = fetchPage(page.next);
  }
  const seconds = now() - start;
  await pool.end();
  const r3 = (x) => Math.round(x * 1000) / 1000;
  process.stdout.write(JSON.stringify({
    variants: stats.variants, products: stats.products, pages: stats.pages,
    seconds: r3(seconds), fetch_seconds: r3(stats.fetchWait), db_seconds: r3(stats.db),
    http_seconds: r3(stats.http), requests: stats.requests, rows_written: stats.rowsWritten,
    api: opt.api, prefetch: PREFETCH,
  }) + '\n');
}

main().catch(async (e) => {
  process.stderr.write(`client_sync: ${e.stack || e}\n`);
  try { await pool.end(); } catch { /* already closed */ }
  process.exit(1);
});
