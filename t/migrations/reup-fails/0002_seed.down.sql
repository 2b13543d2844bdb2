-- fixture: forgets the row 0002_seed.up.sql inserted
SELECT 1;
