// schema.mjs -- Shopify's published Admin GraphQL schemas, loaded once per version.
//
// The schemas are the introspection results that Shopify ships in the npm
// package @shopify/dev-mcp (dist/data/admin_<version>.json.gz); the script
// scripts/install-node-deps.sh copies them into ./schema/.  A version that has
// no schema of its own is answered like Shopify answers it: an older (retired)
// version falls forward to the oldest supported one, any other falls back to the
// newest release not after it.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { buildClientSchema } from 'graphql';

export const DEFAULT_SCHEMA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'schema');
const FILE_RE = /^admin_(\d{4}-\d{2}|unstable)\.json\.gz$/;

const cache = new Map();      // dir + version -> GraphQLSchema

// The versions that have a schema file in dir, oldest first ("unstable" last).
export function availableVersions(dir = DEFAULT_SCHEMA_DIR) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.map((n) => FILE_RE.exec(n)).filter(Boolean).map((m) => m[1]).sort();
}

// The version whose schema answers a request for `version`, or null.
export function resolveVersion(version, versions) {
  if (versions.includes(version)) return version;
  const stable = versions.filter((v) => v !== 'unstable');
  if (!/^\d{4}-\d{2}$/.test(version) || stable.length === 0) return null;
  if (version < stable[0]) return stable[0];
  const older = stable.filter((v) => v <= version);
  return older[older.length - 1];
}

export function loadSchema(version, dir = DEFAULT_SCHEMA_DIR) {
  const key = dir + '\0' + version;
  let schema = cache.get(key);
  if (!schema) {
    const raw = zlib.gunzipSync(fs.readFileSync(path.join(dir, `admin_${version}.json.gz`)));
    const json = JSON.parse(raw);
    schema = buildClientSchema(json.data ?? json, { assumeValid: true });
    cache.set(key, schema);
  }
  return schema;
}
