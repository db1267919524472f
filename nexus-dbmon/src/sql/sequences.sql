-- Sequences owned by a column, with how much of the column type's range is used. The last value
-- is read per sequence by oid (not by joining the pg_sequences view on names, which is quadratic
-- with thousands of sequences); NULL where this role may not read it.
SELECT
    sn.nspname::text              AS schema,
    s.relname::text               AS name,
    tn.nspname::text              AS table_schema,
    t.relname::text               AS table_name,
    a.attname::text               AS column_name,
    format_type(a.atttypid, NULL) AS column_type,
    CASE WHEN has_sequence_privilege(s.oid, 'SELECT,USAGE')
         THEN pg_sequence_last_value(s.oid) END::int8 AS last_value,
    CASE a.atttypid WHEN 'int2'::regtype THEN 32767
                    WHEN 'int4'::regtype THEN 2147483647
                    ELSE 9223372036854775807 END::int8 AS column_max,
    sq.seqincrement::int8         AS increment_by
FROM pg_class s
JOIN pg_sequence sq ON sq.seqrelid = s.oid
JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE s.relkind = 'S'
  AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
