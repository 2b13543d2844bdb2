-- Reverts 0004_background.up.sql (drops the slot ledger and the queue
-- with their items).
DROP FUNCTION IF EXISTS app.prune_background(interval);
DROP FUNCTION IF EXISTS app.replay_item(bigint);
DROP FUNCTION IF EXISTS app.renew_item(bigint, text, integer, interval);
DROP FUNCTION IF EXISTS app.fail_item(bigint, text, integer, text, integer,
                                      interval);
DROP FUNCTION IF EXISTS app.finish_item(bigint, text, integer, bigint);
DROP FUNCTION IF EXISTS app.claim_items(text, text, integer, interval,
                                        integer);
DROP FUNCTION IF EXISTS app.enqueue(text, jsonb, text, interval);
DROP TABLE IF EXISTS app.queue_items;
DROP FUNCTION IF EXISTS app.claim_next_slot(text, interval, timestamptz, text,
                                            integer, text, interval, integer,
                                            interval);
DROP FUNCTION IF EXISTS app.due_slots(text, interval, timestamptz, text,
                                      integer, interval);
DROP FUNCTION IF EXISTS app.slot_at(interval, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS app.skip_slot(text, timestamptz, text);
DROP FUNCTION IF EXISTS app.renew_slot(text, timestamptz, text, integer,
                                       interval);
DROP FUNCTION IF EXISTS app.fail_slot(text, timestamptz, text, integer, text,
                                      interval);
DROP FUNCTION IF EXISTS app.finish_slot(text, timestamptz, text, integer,
                                        bigint);
DROP FUNCTION IF EXISTS app.claim_slot(text, timestamptz, text, interval,
                                       integer);
DROP FUNCTION IF EXISTS app.lock_job(text);
DROP FUNCTION IF EXISTS app.background_backoff(integer, interval, interval);
DROP FUNCTION IF EXISTS app.background_lost(text);
DROP TABLE IF EXISTS app.job_slots;
