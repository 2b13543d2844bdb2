-- fixture: the table the others refer to, and one that goes
CREATE TABLE users (
  id    bigserial PRIMARY KEY,
  email text NOT NULL
);
CREATE TABLE legacy_logins (
  id bigserial PRIMARY KEY,
  at timestamptz
);
