// cost.mjs -- Shopify's query cost rules, computed from the schema.
//
// Requested cost (before execution, from the query and its arguments), as
// shopify.dev documents it:
//   * a scalar or an enum: 0 (so is __typename);
//   * an object: 1 + the cost of its selection (a list of objects too);
//   * a connection (a ...Connection object with first/last arguments):
//     2 + n x (1 + the cost of one node's selection), n = first or last; the
//     node's selection is what is selected under `nodes { }` or under
//     `edges { node { } }` (the larger when both are); pageInfo, edges, node and
//     cursor cost nothing more;
//   * an interface or a union: 1 + the dearest selection over its possible
//     types (inline fragments and fragment spreads by their type condition);
//   * a mutation field: 10 + its selection's cost, the payload's own fields
//     (bulkOperation, userErrors, ...) counting as part of those 10 points --
//     so bulkOperationRunQuery { bulkOperation { id } userErrors { message } }
//     costs 10 as on Shopify, and a connection inside a payload is added.
// Fragments count as if written inline.
// Actual cost (after execution): the same rules applied to what was returned:
// a null object costs nothing (nor anything below it), a connection counts the
// nodes it returned, an empty list nothing.
//
// Worked example (shared docs): orders(first: 40) with five money sets and
// lineItems(first: 10) { nodes { variant { id } product { id }
// originalUnitPriceSet { shopMoney { amount } } } } costs
// 2 + 40 x (1 + 10 + 2 + 10 x 5) = 2522.
import { isAbstractType, getVariableValues, Kind } from 'graphql';
import { buildTree } from './tree.mjs';

const CONNECTION_PARTS = new Set(['pageInfo', 'edges', 'nodes']);

// The defined cost of a field itself (without its selection), given the role
// its position gives it: 'mutation' (a mutation's root field), 'payload' (a
// field of a mutation payload), 'part' (pageInfo/edges/nodes of a connection,
// node of an edge), or null.
export function ownCost(field, role) {
  if (role === 'mutation') return 10;
  switch (field.kind) {
    case 'connection': return 2;
    case 'object':
    case 'abstract': return role === 'payload' || role === 'part' ? 0 : 1;
    default: return 0;
  }
}

function matches(f, typeName) {
  return !f.on || f.on === typeName || (f.possible !== undefined && f.possible.includes(typeName));
}

// The object types a selection on typeName may meet (one for an object type).
function candidates(schema, typeName, fields) {
  const type = schema.getType(typeName);
  if (!type || !isAbstractType(type) || !fields.some((f) => f.on)) return [null];
  return schema.getPossibleTypes(type).map((t) => t.name);
}

function pageSize(field) {
  const n = field.args.first ?? field.args.last;
  return typeof n === 'number' && n > 0 ? n : 0;
}

// -- requested ------------------------------------------------------------------------
function selectionCost(schema, fields, typeName, role) {
  let best = 0;
  for (const t of candidates(schema, typeName, fields)) {
    let sum = 0;
    for (const f of fields) {
      if (t === null || matches(f, t)) sum += fieldCost(schema, f, role);
    }
    if (sum > best) best = sum;
  }
  return best;
}

function connectionCost(schema, f, n) {
  let node = -1;
  let other = 0;
  for (const c of f.selections) {
    if (c.name === 'nodes') {
      node = Math.max(node, selectionCost(schema, c.selections, c.type, null));
    } else if (c.name === 'edges') {
      for (const e of c.selections) {
        if (e.name === 'node') node = Math.max(node, selectionCost(schema, e.selections, e.type, null));
        else other += fieldCost(schema, e, null);
      }
    } else if (c.name !== 'pageInfo') {
      other += fieldCost(schema, c, null);
    }
  }
  return 2 + n * (node >= 0 ? 1 + node : 0) + other;
}

export function fieldCost(schema, f, role = null, sizeOf = pageSize) {
  if (role === 'mutation') {
    return 10 + (f.selections.length ? selectionCost(schema, f.selections, f.type, 'payload') : 0);
  }
  switch (f.kind) {
    case 'connection':
      return connectionCost(schema, f, sizeOf(f));
    case 'object':
    case 'abstract':
      return ownCost(f, role) + selectionCost(schema, f.selections, f.type, null);
    default:
      return 0;
  }
}

// Requested cost of a tree (tree.mjs buildTree).
export function treeCost(schema, tree) {
  const role = tree.root === schema.getMutationType()?.name ? 'mutation' : null;
  let sum = 0;
  for (const f of tree.fields) sum += fieldCost(schema, f, f.kind === 'typename' ? null : role);
  return sum;
}

// -- actual -----------------------------------------------------------------------------
function key(f) {
  return f.alias ?? f.name;
}

function selectionActual(schema, fields, typeName, value) {
  if (value === null || value === undefined || typeof value !== 'object') return 0;
  let best = 0;
  for (const t of candidates(schema, typeName, fields)) {
    let sum = 0;
    for (const f of fields) {
      if ((t === null || matches(f, t)) && key(f) in value) {
        sum += fieldActual(schema, f, null, value[key(f)]);
      }
    }
    if (sum > best) best = sum;
  }
  return best;
}

function connectionActual(schema, f, value) {
  const nodes = [];        // per returned node: the largest cost of its selections
  let other = 0;
  const note = (i, c) => { nodes[i] = nodes[i] === undefined ? c : Math.max(nodes[i], c); };
  for (const c of f.selections) {
    const v = value[key(c)];
    if (v === undefined || v === null) continue;
    if (c.name === 'nodes' && Array.isArray(v)) {
      v.forEach((n, i) => note(i, n === null ? -1 : selectionActual(schema, c.selections, c.type, n)));
    } else if (c.name === 'edges' && Array.isArray(v)) {
      v.forEach((edge, i) => {
        if (edge === null) return;
        let nodeCost = -1;
        for (const e of c.selections) {
          const ev = edge[key(e)];
          if (e.name === 'node') {
            if (ev !== null && ev !== undefined) nodeCost = selectionActual(schema, e.selections, e.type, ev);
          } else {
            other += fieldActual(schema, e, null, ev);
          }
        }
        note(i, nodeCost);
      });
    } else if (c.name !== 'pageInfo') {
      other += fieldActual(schema, c, null, v);
    }
  }
  let sum = 2 + other;
  for (const c of nodes) if (c !== undefined && c >= 0) sum += 1 + c;
  return sum;
}

export function fieldActual(schema, f, role, value) {
  if (value === null || value === undefined) return role === 'mutation' ? 10 : 0;
  if (role === 'mutation') {
    if (!f.selections.length) return 10;
    return 10 + selectionActualRole(schema, f.selections, f.type, value, 'payload');
  }
  switch (f.kind) {
    case 'connection':
      return connectionActual(schema, f, value);
    case 'object':
    case 'abstract': {
      const own = ownCost(f, role);
      if (Array.isArray(value)) {
        const items = value.filter((v) => v !== null);
        if (!items.length) return 0;
        return own + Math.max(...items.map((v) => selectionActual(schema, f.selections, f.type, v)));
      }
      return own + selectionActual(schema, f.selections, f.type, value);
    }
    default:
      return 0;
  }
}

function selectionActualRole(schema, fields, typeName, value, role) {
  let sum = 0;
  for (const f of fields) {
    if (key(f) in value) sum += fieldActual(schema, f, role, value[key(f)]);
  }
  return sum;
}

export function treeActualCost(schema, tree, data) {
  const role = tree.root === schema.getMutationType()?.name ? 'mutation' : null;
  let sum = 0;
  for (const f of tree.fields) {
    if (data && key(f) in data) sum += fieldActual(schema, f, f.kind === 'typename' ? null : role, data[key(f)]);
  }
  return sum;
}

// -- from a document ------------------------------------------------------------------------
function operationOf(document, operationName) {
  const ops = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) return ops.find((o) => o.name && o.name.value === operationName);
  return ops.length === 1 ? ops[0] : undefined;
}

function treeOf(schema, document, variables, operationName) {
  const op = operationOf(document, operationName);
  if (!op) throw new Error('no such operation');
  const coerced = getVariableValues(schema, op.variableDefinitions ?? [], variables ?? {});
  if (coerced.errors) throw coerced.errors[0];
  return buildTree(schema, document, op, coerced.coerced);
}

// Requested cost of a (valid) document with these variables.
export function requestedCost(schema, document, variables = {}, operationName = undefined) {
  return treeCost(schema, treeOf(schema, document, variables, operationName));
}

// Actual cost of the answer `data` of a (valid) document with these variables.
export function actualCost(schema, document, variables, data, operationName = undefined) {
  return treeActualCost(schema, treeOf(schema, document, variables, operationName), data);
}

// Adds `cost` (ownCost) to every field of a tree: what the stand-in needs to
// compute the actual cost of what it returns.
export function annotate(schema, tree) {
  const mutation = tree.root === schema.getMutationType()?.name;
  const visit = (fields, role, inConnection, inEdges) => {
    for (const f of fields) {
      let r = role;
      if (inConnection && CONNECTION_PARTS.has(f.name)) r = 'part';
      if (inEdges && f.name === 'node') r = 'part';
      f.cost = f.kind === 'typename' ? 0 : ownCost(f, r);
      const childRole = r === 'mutation' ? 'payload' : null;
      visit(f.selections, childRole, f.kind === 'connection',
        inConnection && f.name === 'edges');
    }
  };
  visit(tree.fields, mutation ? 'mutation' : null, false, false);
  return tree;
}
