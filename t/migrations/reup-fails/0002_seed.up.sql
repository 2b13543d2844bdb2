-- fixture (roundtrip): seeds a row that its down leaves: the schema is
-- restored, but the up cannot run again
INSERT INTO users (id, email) VALUES (1, 'admin@example.com');
