ALTER TABLE users ADD COLUMN flags integer;
