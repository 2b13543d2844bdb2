# backend_webhook_dead_letter_sql: what nginx -t accepts and refuses (the
# behaviour, with Postgres and the real svix package, is in
# t/e2e/webhooks.test.mjs).

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

run_tests();

__DATA__

=== TEST 1: the dead-letter statement takes id, type, raw body and error
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
--- config
    location = /wh {
        backend_webhook svix;
        backend_webhook_sql "select status from app.receive_clerk_webhook($1, $2, $3::jsonb)";
        backend_webhook_dead_letter_sql "select status from app.dead_letter_clerk_webhook($1, $2, $3::bytea)";
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_webhook_dead_letter_sql must use \$1 \(the message id\), \$2 \(the event type\), \$3 \(the raw body, bytea\) and \$4 \(the error\) in \S+nginx\.conf:\d+/



=== TEST 2: once per location
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
--- config
    location = /wh {
        backend_webhook svix;
        backend_webhook_sql "select status from app.receive_clerk_webhook($1, $2, $3::jsonb)";
        backend_webhook_dead_letter_sql "select $1, $2, $3, $4";
        backend_webhook_dead_letter_sql "select $1, $2, $3, $4";
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"backend_webhook_dead_letter_sql" directive is duplicate/

