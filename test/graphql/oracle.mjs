#!/usr/bin/env node
// oracle.mjs -- the test stand-in's GraphQL helper: one long-running process
// that parses, validates and prices requests against Shopify's published
// schemas (validate.mjs), and hands the stand-in the normalised selection tree
// it executes.  JSON lines over stdin/stdout.
//
//   node test/graphql/oracle.mjs [--schema-dir DIR] [--preload 2026-07,...]
//
// First line out: {"ready": true, "versions": [...], "graphql": "16.x.y"}
// (or {"ready": false, "error": "..."} and exit 1 when there is no schema).
// Then, per line in:
//   {"id", "api_version", "query", "variables", "operationName", "bulk": bool}
//   -> {"id", "api_version" (the schema that answered), "errors": [...],
//       "cost": requested cost, "operation": "query"|"mutation", "name",
//       "tree": {"root", "fields": [...]}, "deprecated": [...]}
//   {"id", "load": "2026-07"} -> {"id", "loaded": "2026-07"}   (warm a schema)
// A request it cannot handle gets {"id", "internal_error": "..."}.
// Schemas are loaded once per version, parsed documents cached per query text.
import readline from 'node:readline';
import { version as graphqlVersion } from 'graphql';
import { DEFAULT_SCHEMA_DIR, availableVersions, loadSchema, resolveVersion } from './schema.mjs';
import { analyze } from './validate.mjs';

let schemaDir = DEFAULT_SCHEMA_DIR;
let preload = [];
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--schema-dir') schemaDir = process.argv[++i];
  else if (a === '--preload') preload = process.argv[++i].split(',').filter(Boolean);
  else {
    process.stderr.write(`oracle.mjs: unknown argument ${a}\n`);
    process.exit(2);
  }
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const versions = availableVersions(schemaDir);
if (!versions.length) {
  out({ ready: false, error: `no Shopify Admin schemas (admin_<version>.json.gz) in ${schemaDir}` });
  process.exit(1);
}
out({ ready: true, versions, graphql: graphqlVersion, schema_dir: schemaDir });

function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return { id: null, internal_error: `not a JSON line: ${e.message}` };
  }
  const id = req.id ?? null;
  try {
    if (req.load) {
      const v = resolveVersion(String(req.load), versions);
      if (v) loadSchema(v, schemaDir);
      return { id, loaded: v };
    }
    const v = resolveVersion(String(req.api_version ?? ''), versions);
    if (!v) return { id, internal_error: `no schema for API version ${req.api_version}` };
    const r = analyze(loadSchema(v, schemaDir), {
      query: req.query, variables: req.variables, operationName: req.operationName || undefined,
      bulk: !!req.bulk });
    return { id, api_version: v, ...r };
  } catch (e) {
    return { id, internal_error: String(e && e.stack ? e.stack : e) };
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (line.trim()) out(handle(line));
});
rl.on('close', () => process.exit(0));

// Warm the schemas asked for once the stand-in can already talk to us.
setImmediate(() => {
  for (const p of preload) {
    const v = resolveVersion(p, versions);
    if (v) loadSchema(v, schemaDir);
  }
});
