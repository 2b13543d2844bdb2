# Mistakes that need the database to be found: each statement is prepared
# once when a worker's first connection opens, and one that does not is
# reported then, naming its procedure, file and line; requests are not
# changed by it.  A failed connection names the server's host and port.

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

=== TEST 1: a broken statement is reported once, at the first connection; working calls work
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=2;
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
    sql "select nosuchcolumn from t101_no_such_table";
}
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.ok?input=1", "GET /trpc/t.ok?input=2", "GET /trpc/t.broken"]
--- error_code eval
[200, 200, 500]
--- response_body eval
['{"result":{"data":2}}', '{"result":{"data":3}}',
 '{"error":{"message":"INTERNAL_SERVER_ERROR","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"t.broken"}}}']
--- grep_error_log: does not prepare
--- grep_error_log_out eval
["does not prepare\n", "", ""]
--- error_log eval
qr/\[warn\] .*backend_pg "main": the statement of procedure "t\.broken" in \S*procs\.conf:10 does not prepare: relation "t101_no_such_table" does not exist \(SQLSTATE 42P01\)/



=== TEST 2: the same in pipeline mode; statements that prepare are not reported
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=1 pipeline=4;
    include ../html/procs.conf;
--- user_files
>>> procs.conf
backend_procedure t.ok { tier public; sql "select $1::int + 1 as v"; params input; result value; }
backend_procedure t.two { tier public; sql "select 2 as v"; result value; }
backend_procedure t.typo {
    tier public;
    type mutation;
    sql "selec 1";
}
backend_procedure t.three { tier public; sql "select 3 as v"; result value; }
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.ok,t.two,t.three?batch=1&input=%7B%220%22%3A1%7D", "GET /trpc/t.ok?input=5"]
--- response_body eval
['[{"result":{"data":2}},{"result":{"data":2}},{"result":{"data":3}}]', '{"result":{"data":6}}']
--- grep_error_log eval: qr/does not prepare: .*/
--- grep_error_log_out eval
["does not prepare: syntax error at or near \"selec\" (SQLSTATE 42601)\n", ""]
--- error_log eval
qr/\[warn\] .*the statement of procedure "t\.typo" in \S*procs\.conf:6 does not prepare/
--- no_error_log
[error]



=== TEST 3: a connection failure names the host and port
--- http_config
    backend_pg down "host=127.0.0.1 port=1 dbname=x user=x" connect_timeout=1s;
    backend_procedure t.down { tier public; sql "select 1"; result value; }
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.down
--- error_code: 503
--- error_log eval
qr/\[error\] .*backend_pg "down": could not connect to 127\.0\.0\.1:1: /



=== TEST 4: a host by name: its name and port
--- http_config
    backend_pg down "host=localhost port=1 dbname=x user=x" connect_timeout=1s;
    backend_procedure t.down { tier public; sql "select 1"; result value; }
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.down
--- error_code: 503
--- error_log eval
qr/\[error\] .*backend_pg "down": could not connect to localhost:1: /
