#!/usr/bin/env node
// validate_documents.mjs -- checks GraphQL documents against Shopify's published
// Admin schema of their API version (validate.mjs).
//
//   node test/graphql/validate_documents.mjs [--schema-dir DIR] < documents.jsonl
//
// Input: one JSON object a line,
//   {"name", "api_version", "query", "variables", "bulk": bool}
// (`bulk`: the document is the inner query of a bulkOperationRunQuery: Shopify's
// bulk rules apply instead of the cost limit).  Output: one JSON line each,
//   {"name", "api_version", "schema_version", "valid", "errors", "deprecated", "cost"}
// where `errors` also lists every deprecated field, argument or enum value the
// document uses (`deprecated` lists them alone), `cost` is the requested cost
// with those variables, and `valid` is true when `errors` is empty.  Exits 0.
import readline from 'node:readline';
import { DEFAULT_SCHEMA_DIR, availableVersions, loadSchema, resolveVersion } from './schema.mjs';
import { analyze } from './validate.mjs';

let schemaDir = DEFAULT_SCHEMA_DIR;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--schema-dir') schemaDir = process.argv[++i];
  else {
    process.stderr.write(`usage: validate_documents.mjs [--schema-dir DIR] < documents.jsonl\n`);
    process.exit(2);
  }
}
const versions = availableVersions(schemaDir);

function check(line) {
  let d;
  try {
    d = JSON.parse(line);
  } catch (e) {
    return { name: null, api_version: null, valid: false, errors: [{ message: `not a JSON line: ${e.message}` }],
      deprecated: [], cost: 0 };
  }
  const out = { name: d.name ?? null, api_version: d.api_version ?? null, schema_version: null };
  const version = resolveVersion(String(d.api_version ?? ''), versions);
  if (!version) {
    return { ...out, valid: false, errors: [{ message: `no schema for API version ${d.api_version} in ${schemaDir}` }],
      deprecated: [], cost: 0 };
  }
  out.schema_version = version;
  const r = analyze(loadSchema(version, schemaDir), {
    query: d.query, variables: d.variables ?? {}, operationName: d.operationName, bulk: !!d.bulk });
  const errors = [...r.errors, ...r.deprecated];
  return { ...out, valid: errors.length === 0, errors, deprecated: r.deprecated, cost: r.cost };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  process.stdout.write(JSON.stringify(check(line)) + '\n');
}
