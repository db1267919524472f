-- Whether pg_stat_statements can be read: installed (and which version) and preloaded.
SELECT
    (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements')::text AS installed_version,
    (SELECT default_version FROM pg_available_extensions WHERE name = 'pg_stat_statements')::text AS available_version,
    'pg_stat_statements' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) AS preloaded
