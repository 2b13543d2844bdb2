# backend_pg pipeline=N: several statements in flight on one connection,
# each its own implicit transaction.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

# one connection, so the calls of a batch share it
our $http_config = <<'_EOC_';
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=1 pipeline=4 query_timeout=1s;
    backend_procedure t.one { tier public; sql "select $1::int + 1 as v"; params input; result value; }
    backend_procedure t.boom { tier public; sql "select 1 / (random() * 0)::int"; result value; }
    backend_procedure t.gone { tier public; sql "select * from t050_no_such_table"; }
    backend_procedure t.slow { tier public; sql "select pg_sleep(3)"; result none; }
    backend_procedure t.begin { type mutation; tier public; sql "begin"; result none; }
    backend_procedure t.sp { type mutation; tier public; sql "savepoint t050"; result none; }
_EOC_

run_tests();

__DATA__

=== TEST 1: the calls of a batch go down one connection together, answers in order
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.one,t.one,t.one,t.one,t.one?batch=1&input=%7B%220%22%3A1%2C%221%22%3A2%2C%222%22%3A3%2C%223%22%3A4%2C%224%22%3A5%7D
--- response_body chomp
[{"result":{"data":2}},{"result":{"data":3}},{"result":{"data":4}},{"result":{"data":5}},{"result":{"data":6}}]
--- grep_error_log eval: qr/backend_pg: (?:prepare \S+|execute \S+, \d+ in flight)/
--- grep_error_log_out
backend_pg: prepare ngx_backend_0
backend_pg: execute ngx_backend_0, 1 in flight
backend_pg: execute ngx_backend_0, 2 in flight
backend_pg: execute ngx_backend_0, 3 in flight
backend_pg: execute ngx_backend_0, 4 in flight
backend_pg: execute ngx_backend_0, 4 in flight
--- log_level: debug
--- no_error_log
[error]



=== TEST 2: an error stops only its own statement, a failed Prepare too
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.one,t.boom,t.one,t.gone,t.one?batch=1&input=%7B%220%22%3A1%2C%222%22%3A2%2C%224%22%3A3%7D
--- error_code: 207
--- response_body chomp
[{"result":{"data":2}},{"error":{"message":"INTERNAL_SERVER_ERROR","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"t.boom"}}},{"result":{"data":3}},{"error":{"message":"INTERNAL_SERVER_ERROR","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"t.gone"}}},{"result":{"data":4}}]
--- error_log eval
["division by zero", "relation \"t050_no_such_table\" does not exist"]



=== TEST 3: a statement timeout ends that statement; the next one behind it runs
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.slow,t.one?batch=1&input=%7B%221%22%3A7%7D
--- error_code: 207
--- response_body chomp
[{"error":{"message":"Database query timed out","code":-32603,"data":{"code":"GATEWAY_TIMEOUT","httpStatus":504,"path":"t.slow"}}},{"result":{"data":8}}]
--- timeout: 5



=== TEST 4: a statement that leaves a transaction open costs its connection
(a savepoint outside a transaction block fails: the next statement is not
in the one left open)
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["POST /trpc/t.begin", "POST /trpc/t.sp"]
--- error_code eval
[200, 500]
--- error_log
SAVEPOINT can only be used in transaction blocks



=== TEST 5: pipeline= takes 1 to 64
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x user=x" pipeline=0;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "pipeline=0" in .*nginx\.conf:\d+/
