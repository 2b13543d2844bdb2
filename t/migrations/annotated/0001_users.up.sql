-- fixture (passes lint and roundtrip): users, and what 0003 drops
CREATE TABLE users (
  id       bigserial PRIMARY KEY,
  email    text NOT NULL,
  nickname text
);
CREATE TABLE legacy_logins (
  id bigserial PRIMARY KEY,
  at timestamptz
);
