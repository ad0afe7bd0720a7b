-- The event store: postgres-es's table, unchanged, so cqrs-es reads and writes it as designed.
CREATE TABLE IF NOT EXISTS events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

-- postgres-es expects it to exist; Agora does not use its snapshots (they double-apply events).
CREATE TABLE IF NOT EXISTS snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- The transactional outbox of the event feed. A trigger fills it in the same transaction as
-- the event, so an event is never committed without its feed entry; the relay deletes an
-- entry only after JetStream acknowledged the publish. A crash anywhere in between means a
-- re-publish, which JetStream de-duplicates by Nats-Msg-Id and projections by sequence.
-- No NOTIFY here: NOTIFY takes a database-wide lock through commit, which would serialize every
-- writer's fsync and defeat group commit. Writers wake the relay over NATS instead.
CREATE TABLE IF NOT EXISTS event_outbox
(
    id             bigserial PRIMARY KEY,
    aggregate_type text   NOT NULL,
    aggregate_id   text   NOT NULL,
    sequence       bigint NOT NULL
);

CREATE OR REPLACE FUNCTION agora_event_to_outbox() RETURNS trigger AS
$$
BEGIN
    INSERT INTO event_outbox (aggregate_type, aggregate_id, sequence)
    VALUES (NEW.aggregate_type, NEW.aggregate_id, NEW.sequence);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS events_to_outbox ON events;
CREATE TRIGGER events_to_outbox
    AFTER INSERT
    ON events
    FOR EACH ROW
EXECUTE FUNCTION agora_event_to_outbox();

-- Events are facts: the store refuses to change or delete them.
CREATE OR REPLACE FUNCTION agora_events_are_immutable() RETURNS trigger AS
$$
BEGIN
    RAISE EXCEPTION 'events are immutable';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS events_immutable ON events;
CREATE TRIGGER events_immutable
    BEFORE UPDATE OR DELETE
    ON events
    FOR EACH ROW
EXECUTE FUNCTION agora_events_are_immutable();
