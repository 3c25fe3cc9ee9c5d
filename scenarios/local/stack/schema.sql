-- The schema the scenarios write into, in database gameday, owned by the
-- gameday role. stack.sh runs it (as superuser, SET ROLE gameday) on every
-- "up": it creates what is missing and never touches existing data, so a
-- scenario that deleted rows is not silently repaired by the next "up".

-- Write-ledger probes: one row per acknowledged write.
CREATE TABLE IF NOT EXISTS ledger (
    run_id     text        NOT NULL,
    seq        bigint      NOT NULL,
    probe      text        NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, probe, seq)
);

-- Data for the restore-from-backup scenario: seeded with 1000 rows only when
-- the table is created.
DO $$
BEGIN
    IF to_regclass('public.items') IS NULL THEN
        CREATE TABLE items (id bigint PRIMARY KEY, payload text);
        INSERT INTO items (id, payload)
            SELECT g, 'item-' || g FROM generate_series(1, 1000) AS g;
    END IF;
END
$$;
