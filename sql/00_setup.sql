-- Installation: objects, settings, comments, privileges.
CREATE EXTENSION shopify_sync;

SELECT extversion FROM pg_extension WHERE extname = 'shopify_sync';

-- Data in schema shopify, functions in the extension schema (public).
SELECT c.relname, c.relkind, c.relrowsecurity
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'shopify' AND c.relkind IN ('r', 'v', 'm')
 ORDER BY c.relname;

SELECT p.oid::regprocedure AS function, p.prorettype::regtype AS returns,
       p.proretset AS setof, p.prosecdef
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'shopify_sync'
 ORDER BY p.proname;

-- Every public object carries a comment.
SELECT 'function ' || p.proname AS uncommented
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'shopify_sync'
 WHERE obj_description(p.oid, 'pg_proc') IS NULL
UNION ALL
SELECT 'table ' || c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'shopify' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL
UNION ALL
SELECT 'schema shopify' WHERE obj_description('shopify'::regnamespace, 'pg_namespace') IS NULL;

-- Settings of the contract exist, with their contexts.
SELECT name, setting, context, vartype
  FROM pg_settings WHERE name LIKE 'shopify_sync.%' ORDER BY name;

-- The prefix is reserved: unknown settings are refused.
SET shopify_sync.no_such_setting = 1;

-- Ordinary roles get EXECUTE on the API, not on maintenance functions.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'shopify_sync'
 ORDER BY p.proname;

-- Row-level security policies exist.
SELECT count(*) > 0 AS has_policies FROM pg_policies WHERE schemaname = 'shopify';

-- Roles used by the other tests.
CREATE ROLE regress_shop_alice;
CREATE ROLE regress_shop_bob;
