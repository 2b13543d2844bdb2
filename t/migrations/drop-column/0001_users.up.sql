-- fixture: the table the others refer to
CREATE TABLE users (
  id       bigserial PRIMARY KEY,
  email    text NOT NULL,
  nickname text
);
