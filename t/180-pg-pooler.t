# backend_pg pooler=transaction: what it refuses at configuration time,
# and how it runs statements (each unnamed, after a preamble of
# transaction-local settings, one Sync) against a plain Postgres, which a
# pooler in front must not change: values, errors, timeouts, the check of
# statements at the first connection.  Through PgBouncer itself:
# t/e2e/pooler.test.mjs.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

run_tests();

__DATA__

=== TEST 1: a pooler mode other than transaction is refused
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x" pooler=session;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "pooler=session" in \S+nginx\.conf:\d+/



=== TEST 2: pipelining is refused with pooler=transaction
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x" pipeline=4 pooler=transaction;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"pipeline=4" is not supported with "pooler=transaction" in "main" in \S+nginx\.conf:\d+/



=== TEST 3: options in the connection string are refused with pooler=transaction
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x options='-c work_mem=64MB'"
               pooler=transaction;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"options" in "main" cannot pass a transaction pooler: set them on the role or database in \S+nginx\.conf:\d+/



=== TEST 4: values, the settings of each statement, a broken statement reported by the check one at a time
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=1 pooler=transaction query_timeout=7s;
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure t.ok {
    tier public;
    sql "select $1::int + 1 as v";
    params input;
    result value;
}

backend_procedure t.broken {
    tier public;
    sql "select nosuchcolumn from t180_no_such_table";
}

backend_procedure t.settings {
    tier public;
    sql "select current_setting('statement_timeout') as st,
                current_setting('TimeZone') as tz,
                current_setting('IntervalStyle') as ist,
                current_setting('client_encoding') as enc,
                interval '36 hours' as iv";
    result one;
}

backend_procedure t.also_broken {
    tier public;
    sql "select 1 from t180_nor_this";
}
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.ok?input=1", "GET /trpc/t.settings", "GET /trpc/t.broken",
 "GET /trpc/t.ok?input=2"]
--- error_code eval
[200, 200, 500, 200]
--- response_body eval
['{"result":{"data":2}}',
 '{"result":{"data":{"st":"7s","tz":"UTC","ist":"postgres","enc":"UTF8","iv":"36:00:00"}}}',
 '{"error":{"message":"INTERNAL_SERVER_ERROR","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"t.broken"}}}',
 '{"result":{"data":3}}']
--- grep_error_log: does not prepare
--- grep_error_log_out eval
["does not prepare\ndoes not prepare\n", "", "", ""]
--- error_log eval
[qr/\[warn\] .*backend_pg "main": the statement of procedure "t\.broken" in \S*procs\.conf:10 does not prepare: relation "t180_no_such_table" does not exist \(SQLSTATE 42P01\)/,
 qr/\[warn\] .*backend_pg "main": the statement of procedure "t\.also_broken" in \S*procs\.conf:25 does not prepare: relation "t180_nor_this" does not exist/]



=== TEST 5: a statement timeout by the server keeps the connection; the next statement has its full time
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=1 pooler=transaction query_timeout=1s;
    backend_procedure t.slow { tier public; sql "select pg_sleep(3)"; result none; }
    backend_procedure t.int { tier public; sql "select $1::int as v"; params input; result value; }
    backend_procedure t.fast { tier public; sql "select pg_sleep(0.5)::text as v"; result value; }
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.slow", "GET /trpc/t.int?input=%22x%22", "GET /trpc/t.fast"]
--- error_code eval
[504, 400, 200]
--- response_body eval
['{"error":{"message":"Database query timed out","code":-32603,"data":{"code":"GATEWAY_TIMEOUT","httpStatus":504,"path":"t.slow"}}}',
 '{"error":{"message":"Invalid input","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400,"path":"t.int"}}}',
 '{"result":{"data":""}}']
--- timeout: 6
--- no_error_log
no answer within
connection lost
[alert]
