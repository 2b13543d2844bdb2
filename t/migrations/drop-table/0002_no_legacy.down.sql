CREATE TABLE legacy_logins (
  id bigserial PRIMARY KEY,
  at timestamptz
);
