// validate.mjs -- a GraphQL request judged as Shopify judges it, against the
// published schema of its API version: parse, validate (graphql-js validate()
// with the specified rules, errors phrased and coded as Shopify's graphql-ruby
// phrases them), coerce the variables, check connection arguments, build the
// normalised tree (tree.mjs) and price it (cost.mjs).  Also lists the
// deprecated fields, arguments and enum values a document uses, and checks the
// rules of bulk queries (the inner query of bulkOperationRunQuery).
//
//   analyze(schema, {query, variables, operationName, bulk})
//     -> {errors, deprecated, cost, operation, name, tree}
//
// Used by oracle.mjs (the stand-in's helper) and validate_documents.mjs (CLI).
import {
  parse, validate, specifiedRules, GraphQLError, TypeInfo, visit, visitWithTypeInfo,
  BREAK, print, Kind, getNamedType, getVariableValues, isInputObjectType,
  FieldsOnCorrectTypeRule, KnownArgumentNamesRule, ProvidedRequiredArgumentsRule,
  ValuesOfCorrectTypeRule, VariablesInAllowedPositionRule, NoUnusedVariablesRule,
  NoUndefinedVariablesRule, ScalarLeafsRule, KnownTypeNamesRule,
  VariablesAreInputTypesRule, KnownFragmentNamesRule, NoUnusedFragmentsRule,
  KnownDirectivesRule, PossibleFragmentSpreadsRule, OverlappingFieldsCanBeMergedRule,
  UniqueOperationNamesRule, LoneAnonymousOperationRule, UniqueArgumentNamesRule,
  UniqueVariableNamesRule, NoFragmentCyclesRule,
} from 'graphql';
import { buildTree, walk } from './tree.mjs';
import { annotate, treeCost } from './cost.mjs';

export const MAX_BULK_CONNECTIONS = 5;
export const MAX_BULK_DEPTH = 2;

// -- Shopify's phrasing of validation errors -------------------------------------------
const q = (s) => `'${s}'`;
const unwrapType = (t) => String(t).replace(/!$/, '');

function argumentPosition(context) {
  const fieldDef = context.getFieldDef();
  const directive = context.getDirective();
  if (directive) return ['Directive', directive.name];
  return ['Field', fieldDef ? fieldDef.name : '?'];
}

const FORMATS = new Map([
  [FieldsOnCorrectTypeRule, (e) => {
    const m = /^Cannot query field "([^"]+)" on type "([^"]+)"/.exec(e.message);
    if (!m) return null;
    return { message: `Field ${q(m[1])} doesn't exist on type ${q(m[2])}`,
      extensions: { code: 'undefinedField', typeName: m[2], fieldName: m[1] } };
  }],
  [KnownArgumentNamesRule, (e) => {
    let m = /^Unknown argument "([^"]+)" on field "(?:[^".]+\.)?([^"]+)"/.exec(e.message);
    if (m) {
      return { message: `Field ${q(m[2])} doesn't accept argument ${q(m[1])}`,
        extensions: { code: 'argumentNotAccepted', name: m[2], typeName: 'Field', argumentName: m[1] } };
    }
    m = /^Unknown argument "([^"]+)" on directive "@([^"]+)"/.exec(e.message);
    if (!m) return null;
    return { message: `Directive ${q(m[2])} doesn't accept argument ${q(m[1])}`,
      extensions: { code: 'argumentNotAccepted', name: m[2], typeName: 'Directive', argumentName: m[1] } };
  }],
  [ProvidedRequiredArgumentsRule, (e) => {
    const m = /^(Field|Directive) "@?([^"]+)" argument "([^"]+)"/.exec(e.message);
    if (!m) return null;
    return { message: `${m[1]} ${q(m[2])} is missing required arguments: ${m[3]}`,
      extensions: { code: 'missingRequiredArguments', className: m[1], name: m[2], arguments: m[3] } };
  }],
  [ValuesOfCorrectTypeRule, (e, context) => {
    const arg = context.getArgument();
    const node = e.nodes && e.nodes[0];
    if (!arg || !node) return null;
    const [kind, name] = argumentPosition(context);
    return { message: `Argument ${q(arg.name)} on ${kind} ${q(name)} has an invalid value (${print(node)}). `
        + `Expected type ${q(String(arg.type))}.`,
      extensions: { code: 'argumentLiteralsIncompatible', typeName: kind, argumentName: arg.name } };
  }],
  [VariablesInAllowedPositionRule, (e, context, doc) => {
    const m = /^Variable "\$([^"]+)" of type "([^"]+)" used in position expecting type "([^"]+)"/.exec(e.message);
    if (!m) return null;
    const use = e.nodes && e.nodes[1];
    const owner = use ? ancestorsOf(doc, use).reverse().find((n) => n.kind === Kind.ARGUMENT || n.kind === Kind.OBJECT_FIELD) : null;
    const argName = owner ? owner.name.value : '?';
    return { message: `Type mismatch on variable $${m[1]} and argument ${argName} (${m[2]} / ${m[3]})`,
      extensions: { code: 'variableMismatch', variableName: m[1], typeName: m[2], argumentName: argName,
        errorMessage: 'Type mismatch' } };
  }],
  [NoUnusedVariablesRule, (e) => {
    const m = /^Variable "\$([^"]+)" is never used(?: in operation "([^"]+)")?/.exec(e.message);
    if (!m) return null;
    return { message: `Variable $${m[1]} is declared by ${m[2] ?? 'anonymous query'} but not used`,
      extensions: { code: 'variableNotUsed', variableName: m[1] } };
  }],
  [NoUndefinedVariablesRule, (e) => {
    const m = /^Variable "\$([^"]+)" is not defined(?: by operation "([^"]+)")?/.exec(e.message);
    if (!m) return null;
    return { message: `Variable $${m[1]} is used by ${m[2] ?? 'anonymous query'} but not declared`,
      extensions: { code: 'variableNotDefined', variableName: m[1] } };
  }],
  [ScalarLeafsRule, (e) => {
    let m = /^Field "([^"]+)" of type "([^"]+)" must have a selection of subfields/.exec(e.message);
    if (m) {
      const t = getNamedTypeName(m[2]);
      return { message: `Field must have selections (field ${q(m[1])} returns ${t} but has no selections. `
          + `Did you mean ${q(m[1] + ' { ... }')}?)`,
        extensions: { code: 'selectionMismatch', nodeName: `field ${q(m[1])}`, typeName: t } };
    }
    m = /^Field "([^"]+)" must not have a selection since type "([^"]+)" has no subfields/.exec(e.message);
    if (!m) return null;
    const t = getNamedTypeName(m[2]);
    const node = e.nodes && e.nodes[0];
    const set = node && node.kind === Kind.SELECTION_SET ? node : node && node.selectionSet;
    const subs = set ? set.selections.map((s) => (s.name ? s.name.value : '...')).join(', ') : '';
    return { message: `Selections can't be made on scalars (field ${q(m[1])} returns ${t} but has selections [${subs}])`,
      extensions: { code: 'selectionMismatch', nodeName: `field ${q(m[1])}`, typeName: t } };
  }],
  [KnownTypeNamesRule, (e, context, doc) => {
    const m = /^Unknown type "([^"]+)"/.exec(e.message);
    if (!m) return null;
    const node = e.nodes && e.nodes[0];
    const varDef = node ? ancestorsOf(doc, node).find((n) => n.kind === Kind.VARIABLE_DEFINITION) : null;
    if (varDef) {
      return { message: `${m[1]} isn't a defined input type (on $${varDef.variable.name.value})`,
        extensions: { code: 'variableRequiresValidType', typeName: m[1], variableName: varDef.variable.name.value } };
    }
    return { message: `No such type ${m[1]}, so it can't be a fragment condition`,
      extensions: { code: 'undefinedType', typeName: m[1] } };
  }],
  [VariablesAreInputTypesRule, (e) => {
    const m = /^Variable "\$([^"]+)" cannot be non-input type "([^"]+)"/.exec(e.message);
    if (!m) return null;
    return { message: `${m[2]} isn't a valid input type (on $${m[1]})`,
      extensions: { code: 'variableRequiresValidType', typeName: m[2], variableName: m[1] } };
  }],
  [KnownFragmentNamesRule, (e) => {
    const m = /^Unknown fragment "([^"]+)"/.exec(e.message);
    return m && { message: `Fragment ${m[1]} was used, but not defined`,
      extensions: { code: 'useAndDefineFragment', fragmentName: m[1] } };
  }],
  [NoUnusedFragmentsRule, (e) => {
    const m = /^Fragment "([^"]+)" is never used/.exec(e.message);
    return m && { message: `Fragment ${m[1]} was defined, but not used`,
      extensions: { code: 'useAndDefineFragment', fragmentName: m[1] } };
  }],
  [KnownDirectivesRule, (e) => {
    const m = /^Unknown directive "@([^"]+)"/.exec(e.message);
    return m && { message: `Directive @${m[1]} is not defined`,
      extensions: { code: 'undefinedDirective', directiveName: m[1] } };
  }],
  [PossibleFragmentSpreadsRule, (e) => ({ message: e.message.replace(/"/g, "'"),
    extensions: { code: 'cannotSpreadFragment' } })],
  [OverlappingFieldsCanBeMergedRule, (e) => ({ message: e.message.replace(/"/g, "'"),
    extensions: { code: 'fieldConflict' } })],
  [UniqueOperationNamesRule, (e) => {
    const m = /operation named "([^"]+)"/.exec(e.message);
    return { message: `Operation name "${m ? m[1] : '?'}" must be unique`,
      extensions: { code: 'uniquelyNamedOperations', operationName: m ? m[1] : null } };
  }],
  [LoneAnonymousOperationRule, () => ({ message: 'Operation name is required when multiple operations are present',
    extensions: { code: 'anonymousOperationNotAlone' } })],
  [UniqueArgumentNamesRule, (e) => ({ message: e.message.replace(/"/g, "'"),
    extensions: { code: 'argumentNamesNotUnique' } })],
  [UniqueVariableNamesRule, (e) => ({ message: e.message.replace(/"/g, "'"),
    extensions: { code: 'variableNamesNotUnique' } })],
  [NoFragmentCyclesRule, (e) => ({ message: e.message.replace(/"/g, "'"),
    extensions: { code: 'infiniteLoop' } })],
]);

function getNamedTypeName(s) {
  return s.replace(/[[\]!]/g, '');
}

// The rules graphql-js validate() runs, each reporting Shopify-phrased errors.
function shopifyRules(doc) {
  return specifiedRules.map((rule) => {
    const fmt = FORMATS.get(rule);
    return (context) => {
      const proxy = Object.create(context);
      proxy.reportError = (err) => {
        const f = (fmt && fmt(err, context, doc)) || {
          message: err.message.replace(/"/g, "'"), extensions: { code: 'validationError' } };
        context.reportError(new GraphQLError(f.message, { nodes: err.nodes, extensions: f.extensions }));
      };
      return rule(proxy);
    };
  });
}

// -- paths and error objects -----------------------------------------------------------------
function ancestorsOf(doc, target) {
  let found = [];
  visit(doc, {
    enter(node, _key, parent, _path, ancestors) {
      if (node === target) {
        found = [...ancestors, parent].filter((a) => a && !Array.isArray(a) && a.kind);
        return BREAK;
      }
      return undefined;
    },
  });
  return found;
}

function label(node) {
  switch (node.kind) {
    case Kind.OPERATION_DEFINITION: return node.operation + (node.name ? ' ' + node.name.value : '');
    case Kind.FRAGMENT_DEFINITION: return 'fragment ' + node.name.value;
    case Kind.INLINE_FRAGMENT: return node.typeCondition ? '... on ' + node.typeCondition.name.value : '...';
    case Kind.FRAGMENT_SPREAD: return '... ' + node.name.value;
    case Kind.FIELD: return node.alias ? node.alias.value : node.name.value;
    case Kind.ARGUMENT:
    case Kind.OBJECT_FIELD: return node.name.value;
    default: return null;
  }
}

// graphql-ruby's static path: the operation, fields, fragments and arguments down to the node.
function staticPath(doc, node) {
  if (!node) return undefined;
  const chain = [...ancestorsOf(doc, node), node];
  const path = chain.map(label).filter((x) => x !== null);
  return path.length ? path : undefined;
}

function errorObject(err, doc) {
  const o = { message: err.message };
  if (err.locations && err.locations.length) o.locations = err.locations.map(({ line, column }) => ({ line, column }));
  const path = err.path ?? (doc && err.nodes ? staticPath(doc, err.nodes[0]) : undefined);
  if (path) o.path = path;
  if (err.extensions && Object.keys(err.extensions).length) o.extensions = { ...err.extensions };
  return o;
}

// One error per field for missing required arguments, as graphql-ruby reports them.
function mergeMissing(errors) {
  const out = [];
  const byNode = new Map();
  for (const e of errors) {
    const node = e.nodes && e.nodes[0];
    if (e.extensions && e.extensions.code === 'missingRequiredArguments' && node) {
      const prev = byNode.get(node);
      if (prev) {
        const args = prev.extensions.arguments + ', ' + e.extensions.arguments;
        const merged = new GraphQLError(`${prev.extensions.className} '${prev.extensions.name}' is missing required arguments: ${args}`,
          { nodes: prev.nodes, extensions: { ...prev.extensions, arguments: args } });
        out[out.indexOf(prev)] = merged;
        byNode.set(node, merged);
        continue;
      }
      byNode.set(node, e);
    }
    out.push(e);
  }
  return out;
}

function parseError(err) {
  const m = /found (.*)\.$/.exec(err.message);
  const loc = err.locations && err.locations[0];
  const at = loc ? ` at [${loc.line}, ${loc.column}]` : '';
  const token = m ? (m[1] === '<EOF>' ? 'end of file' : m[1]) : err.message.replace(/^Syntax Error: /, '');
  return { message: `Parse error on ${token}${at}`, ...(loc ? { locations: [{ line: loc.line, column: loc.column }] } : {}) };
}

// -- deprecations -------------------------------------------------------------------------------
function deprecations(schema, doc) {
  const out = [];
  const typeInfo = new TypeInfo(schema);
  const add = (what, reason, node) => {
    const tok = node.loc ? node.loc.startToken : null;
    const entry = { message: `${what} is deprecated: ${reason}`, extensions: { code: 'deprecated' } };
    if (tok) entry.locations = [{ line: tok.line, column: tok.column }];
    out.push(entry);
  };
  visit(doc, visitWithTypeInfo(typeInfo, {
    Field(node) {
      const def = typeInfo.getFieldDef();
      const parent = typeInfo.getParentType();
      if (def && def.deprecationReason != null) add(`Field '${parent.name}.${def.name}'`, def.deprecationReason, node);
    },
    Argument(node) {
      const arg = typeInfo.getArgument();
      const def = typeInfo.getFieldDef();
      if (arg && arg.deprecationReason != null) {
        add(`Argument '${arg.name}' of '${def ? def.name : '?'}'`, arg.deprecationReason, node);
      }
    },
    EnumValue(node) {
      const v = typeInfo.getEnumValue();
      const t = getNamedType(typeInfo.getInputType());
      if (v && v.deprecationReason != null) add(`Enum value '${t}.${v.name}'`, v.deprecationReason, node);
    },
    ObjectField(node) {
      const parent = getNamedType(typeInfo.getParentInputType());
      const f = isInputObjectType(parent) ? parent.getFields()[node.name.value] : null;
      if (f && f.deprecationReason != null) add(`Input field '${parent.name}.${f.name}'`, f.deprecationReason, node);
    },
  }));
  return out;
}

// -- documents, cached per schema --------------------------------------------------------------
const DOC_CACHE_MAX = 2000;
const docCaches = new WeakMap();

function documentEntry(schema, query) {
  let cache = docCaches.get(schema);
  if (!cache) docCaches.set(schema, (cache = new Map()));
  let e = cache.get(query);
  if (e) return e;
  e = { doc: null, errors: [], deprecated: [] };
  try {
    e.doc = parse(query);
  } catch (err) {
    e.errors = [parseError(err)];
  }
  if (e.doc) {
    const errs = mergeMissing(validate(schema, e.doc, shopifyRules(e.doc)));
    e.errors = errs.map((x) => errorObject(x, e.doc));
    if (!errs.length) e.deprecated = deprecations(schema, e.doc);
  }
  if (cache.size >= DOC_CACHE_MAX) cache.delete(cache.keys().next().value);
  cache.set(query, e);
  return e;
}

function pickOperation(doc, operationName) {
  const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operationName) {
    const op = ops.find((o) => o.name && o.name.value === operationName);
    return op ? [op, null] : [null, { message: `No operation named "${operationName}"` }];
  }
  if (ops.length === 1) return [ops[0], null];
  return [null, { message: ops.length ? 'An operation name is required' : 'No operations in query string' }];
}

// Shopify's phrasing of a variable that could not be coerced.
function variableError(err, op, variables) {
  const m = /^Variable "\$([^"]+)"/.exec(err.message);
  const name = m ? m[1] : '?';
  const def = (op.variableDefinitions || []).find((d) => d.variable.name.value === name);
  const type = def ? print(def.type) : '?';
  let explanation = err.message.replace(/^Variable "\$[^"]+" (got invalid value [^;]*; )?/, '');
  if (/of (non-null|required) type .* (was not provided|must not be null)/.test(err.message)) {
    explanation = 'Expected value to not be null';
  } else {
    const c = /^(\w+) cannot represent [^:]*: (.*)$/.exec(explanation);
    if (c) explanation = `Could not coerce value ${c[2]} to ${c[1]}`;
  }
  const loc = def && def.loc ? def.loc.startToken : null;
  return {
    message: `Variable $${name} of type ${type} was provided invalid value`,
    ...(loc ? { locations: [{ line: loc.line, column: loc.column }] } : {}),
    extensions: { value: variables[name] ?? null,
      problems: [{ path: err.path ?? [], explanation }] },
  };
}

// Connections outside bulk queries need first or last (not both), as on Shopify.
function connectionErrors(tree) {
  const errors = [];
  for (const [f, ancestors] of walk(tree.fields)) {
    if (f.kind !== 'connection') continue;
    const path = [...ancestors, f].map((a) => a.alias ?? a.name);
    const hasFirst = f.args.first !== undefined && f.args.first !== null;
    const hasLast = f.args.last !== undefined && f.args.last !== null;
    if (!hasFirst && !hasLast) {
      errors.push({ message: 'you must provide one of first or last', path });
    } else if (hasFirst && hasLast) {
      errors.push({ message: `Passing both \`first\` and \`last\` to paginate the \`${f.name}\` connection is not supported.`, path });
    }
  }
  return errors;
}

// Shopify's rules of bulk queries: at most 5 connections, nesting depth at most 2.
export function bulkErrors(operation, tree) {
  if (operation !== 'query') return [{ message: 'Bulk queries must be query operations' }];
  let count = 0;
  let depth = 0;
  for (const [f, ancestors] of walk(tree.fields)) {
    if (f.kind !== 'connection') continue;
    count += 1;
    depth = Math.max(depth, 1 + ancestors.filter((a) => a.kind === 'connection').length);
  }
  const errors = [];
  if (count === 0) errors.push({ message: 'Bulk queries must contain at least one connection.' });
  if (count > MAX_BULK_CONNECTIONS) {
    errors.push({ message: `Bulk queries cannot contain more than ${MAX_BULK_CONNECTIONS} connections.` });
  }
  if (depth > MAX_BULK_DEPTH) {
    errors.push({ message: `Bulk queries cannot contain connections with a nesting depth greater than ${MAX_BULK_DEPTH}.` });
  }
  return errors;
}

// A bulk query's connections cost as if each asked for one node (Shopify does
// not limit their cost).
function bulkCost(schema, tree) {
  const sized = (fields) => fields.map((f) => ({
    ...f, args: f.kind === 'connection' && f.args.first == null && f.args.last == null ? { ...f.args, first: 1 } : f.args,
    selections: sized(f.selections) }));
  return treeCost(schema, { ...tree, fields: sized(tree.fields) });
}

export function analyze(schema, { query, variables, operationName, bulk = false }) {
  const res = { errors: [], deprecated: [], cost: 0, operation: null, name: null, tree: null };
  if (typeof query !== 'string' || !query.trim()) {
    res.errors.push({ message: 'No query string was present' });
    return res;
  }
  const entry = documentEntry(schema, query);
  res.deprecated = entry.deprecated;
  if (entry.errors.length) {
    res.errors = entry.errors;
    return res;
  }
  const [op, opError] = pickOperation(entry.doc, operationName);
  if (!op) {
    res.errors.push(opError);
    return res;
  }
  res.operation = op.operation;
  res.name = op.name ? op.name.value : null;
  const given = variables && typeof variables === 'object' && !Array.isArray(variables) ? variables : {};
  const coerced = getVariableValues(schema, op.variableDefinitions || [], given, { maxErrors: 50 });
  if (coerced.errors) {
    res.errors = coerced.errors.map((e) => variableError(e, op, given));
    return res;
  }
  const tree = annotate(schema, buildTree(schema, entry.doc, op, coerced.coerced));
  if (bulk) {
    res.errors = bulkErrors(op.operation, tree);
    res.cost = bulkCost(schema, tree);
  } else {
    res.errors = connectionErrors(tree);
    res.cost = treeCost(schema, tree);
  }
  res.tree = tree;
  return res;
}
