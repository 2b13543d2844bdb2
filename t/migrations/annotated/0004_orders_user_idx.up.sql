-- fixture: the index 0002 forgot
CREATE INDEX orders_user_id_idx ON orders (user_id);
