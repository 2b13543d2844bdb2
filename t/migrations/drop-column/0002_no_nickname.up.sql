-- fixture (lint, drop): a column dropped without an annotation
ALTER TABLE users DROP COLUMN nickname;
