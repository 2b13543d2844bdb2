-- fixture (lint, files): no down file, and an annotation misspelt
-- @one_to_one users: not a known annotation
ALTER TABLE users ADD COLUMN flags integer;
