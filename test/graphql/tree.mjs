// tree.mjs -- the normalised selection tree of one operation of a validated document.
//
// Every selected field becomes
//   {name, alias, args, type, list, kind, on, possible?, selections}
// with fragment spreads and inline fragments expanded (the fields they bring get
// `on`: the type condition, or null when it always holds), @skip/@include
// applied, arguments resolved (variables substituted, schema defaults applied),
// `type` the named return type, `list` whether it is a list, and `kind` one of
// scalar (scalars and enums), object, abstract (interface or union), connection
// (a ...Connection object with first/last arguments), typename, introspection.
// `possible` lists the object types of an abstract `on`.  Fields with the same
// response key and condition are merged, as GraphQL executes them.
// cost.mjs prices such trees; the stand-in executes them.
import {
  Kind, getNamedType, isListType, isNonNullType, isAbstractType, isObjectType,
  isLeafType, getArgumentValues, getDirectiveValues, GraphQLSkipDirective,
  GraphQLIncludeDirective, SchemaMetaFieldDef, TypeMetaFieldDef,
} from 'graphql';

export function isConnectionField(fieldDef) {
  const t = getNamedType(fieldDef.type);
  return isObjectType(t) && t.name.endsWith('Connection') &&
    fieldDef.args.some((a) => a.name === 'first' || a.name === 'last');
}

function hasList(type) {
  for (let t = type; isNonNullType(t) || isListType(t); t = t.ofType) {
    if (isListType(t)) return true;
  }
  return false;
}

function included(node, vars) {
  const skip = getDirectiveValues(GraphQLSkipDirective, node, vars);
  if (skip && skip.if === true) return false;
  const inc = getDirectiveValues(GraphQLIncludeDirective, node, vars);
  return !(inc && inc.if === false);
}

function possibleNames(schema, type) {
  return schema.getPossibleTypes(type).map((t) => t.name);
}

// The condition the fields of a fragment on `cond` get, inside a selection on
// `parent` already narrowed to `on`/`onType`.
function narrow(schema, parent, on, onType, cond) {
  const current = onType ?? parent;
  if (!cond || cond === current || isObjectType(current)) return [on, onType];
  if (isObjectType(cond)) return [cond.name, cond];
  const inside = new Set(possibleNames(schema, cond));
  if (possibleNames(schema, current).every((n) => inside.has(n))) return [on, onType];
  return [cond.name, cond];
}

function mergeInto(out, entry) {
  const key = (entry.alias ?? entry.name) + '\0' + (entry.on ?? '');
  const prev = out.index.get(key);
  if (!prev) {
    out.index.set(key, entry);
    out.list.push(entry);
    return;
  }
  for (const sub of entry.selections) mergeInto(prev.sub, sub);
}

function newOut() {
  return { list: [], index: new Map() };
}

// Strip the merge bookkeeping: plain JSON-able objects.
function finish(out) {
  return out.list.map((e) => {
    const { sub, ...rest } = e;
    rest.selections = finish(sub);
    return rest;
  });
}

function collect(ctx, parent, selectionSet, on, onType, out) {
  const { schema, vars, fragments } = ctx;
  for (const sel of selectionSet.selections) {
    if (!included(sel, vars)) continue;
    if (sel.kind === Kind.FIELD) {
      const name = sel.name.value;
      const alias = sel.alias ? sel.alias.value : null;
      const base = { name, alias, args: {}, type: 'String', list: false, on };
      if (onType && isAbstractType(onType)) base.possible = possibleNames(schema, onType);
      if (name === '__typename') {
        mergeInto(out, { ...base, kind: 'typename', selections: [], sub: newOut() });
        continue;
      }
      const effective = onType ?? parent;
      let def;
      if (name === '__schema' || name === '__type') {
        def = name === '__schema' ? SchemaMetaFieldDef : TypeMetaFieldDef;
      } else {
        def = effective.getFields()[name];
      }
      const named = getNamedType(def.type);
      const args = getArgumentValues(def, sel, vars);
      let kind;
      if (name.startsWith('__')) kind = 'introspection';
      else if (isLeafType(named)) kind = 'scalar';
      else if (isConnectionField(def)) kind = 'connection';
      else if (isAbstractType(named)) kind = 'abstract';
      else kind = 'object';
      const sub = newOut();
      if (sel.selectionSet && kind !== 'introspection') {
        collect(ctx, named, sel.selectionSet, null, null, sub);
      }
      const entry = { ...base, args, type: named.name, list: hasList(def.type), kind, sub };
      entry.selections = sub.list;
      mergeInto(out, entry);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const cond = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : null;
      const [o, t] = narrow(schema, parent, on, onType, cond);
      collect(ctx, parent, sel.selectionSet, o, t, out);
    } else if (sel.kind === Kind.FRAGMENT_SPREAD) {
      const frag = fragments[sel.name.value];
      if (!frag || ctx.active.has(frag)) continue;
      const cond = schema.getType(frag.typeCondition.name.value);
      const [o, t] = narrow(schema, parent, on, onType, cond);
      ctx.active.add(frag);
      collect(ctx, parent, frag.selectionSet, o, t, out);
      ctx.active.delete(frag);
    }
  }
}

// The operation's root type and its normalised fields.  `vars` are coerced
// variable values (graphql-js getVariableValues).
export function buildTree(schema, document, operation, vars) {
  const fragments = Object.create(null);
  for (const d of document.definitions) {
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
  }
  const root = operation.operation === 'mutation' ? schema.getMutationType()
    : operation.operation === 'subscription' ? schema.getSubscriptionType()
      : schema.getQueryType();
  const out = newOut();
  collect({ schema, vars, fragments, active: new Set() }, root, operation.selectionSet,
    null, null, out);
  return { root: root.name, fields: finish(out) };
}

// Every field of a tree, depth first, with the list of its ancestors.
export function* walk(fields, ancestors = []) {
  for (const f of fields) {
    yield [f, ancestors];
    yield* walk(f.selections, [...ancestors, f]);
  }
}
