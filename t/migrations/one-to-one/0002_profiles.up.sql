-- fixture (lint, one-to-one): a 1:1 extension of users without a reason
CREATE TABLE user_profiles (
  user_id bigint PRIMARY KEY REFERENCES users (id),
  bio     text
);
