-- fixture (lint, fk-index): orders.user_id is in an index, but not as its
-- leading column, and in a partial one: neither serves the foreign key
CREATE TABLE orders (
  id         bigserial PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_created_user_idx ON orders (created_at, user_id);
CREATE INDEX orders_user_recent_idx ON orders (user_id)
  WHERE created_at > '2026-01-01';
