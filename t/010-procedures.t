# Procedures backed by Postgres: parameters, result shapes, type mapping.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

our $http_config = <<'_EOC_';
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER" max=4 query_timeout=1s;
_EOC_

run_tests();

__DATA__

=== TEST 1: many rows, parameters from input fields, aliases as keys
--- http_config eval
$::http_config . q{
    backend_procedure t.list {
        tier    public;
        sql     "select g as id, 'item ' || g as \"itemName\"
                   from generate_series(1, $1::int) g
                  where g > $2::int order by g";
        params  input.limit input.after;
        result  many;
    }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.list?input=%7B%22limit%22%3A4%2C%22after%22%3A2%7D
--- response_body chomp
{"result":{"data":[{"id":3,"itemName":"item 3"},{"id":4,"itemName":"item 4"}]}}
--- response_headers
Content-Type: application/json
--- no_error_log
[error]



=== TEST 2: result one, and its NOT_FOUND with the configured message
--- http_config eval
$::http_config . q{
    backend_procedure t.get {
        tier       public;
        sql        "select g as id from generate_series(1, 3) g where g = $1::int";
        params     input;
        result     one;
        not_found  "no such thing";
    }
}
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.get?input=2", "GET /trpc/t.get?input=7"]
--- error_code eval
[200, 404]
--- response_body eval
['{"result":{"data":{"id":2}}}',
 '{"error":{"message":"no such thing","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"t.get"}}}']
--- no_error_log
[error]



=== TEST 3: result value and none
--- http_config eval
$::http_config . q{
    backend_procedure t.count { tier public; sql "select count(*) from generate_series(1, 42)"; result value; }
    backend_procedure t.noop { type mutation; tier public; sql "select 1"; result none; }
}
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.count", "POST /trpc/t.noop"]
--- response_body eval
['{"result":{"data":42}}', '{"result":{}}']
--- no_error_log
[error]



=== TEST 4: Postgres types as a Node backend writes them
--- http_config eval
$::http_config . q{
    backend_procedure t.types {
        tier    public;
        sql     "select 7::int2 a, 9007199254740993::int8 b, 1.50::numeric c,
                        2.5::float8 d, 'NaN'::float8 e, true f, false g,
                        '{\"x\": [1, 2], \"s\": \"a b\"}'::jsonb h,
                        '2025-06-02 11:00:00.1239-03'::timestamptz i,
                        '2025-06-02 14:00:00'::timestamp j,
                        'infinity'::timestamptz k,
                        array[1, 2, null]::int[] l,
                        array['a b', 'c\"d', null] m,
                        '{{1,2},{3,4}}'::int[] n, null::text o,
                        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid p,
                        '2025-06-02'::date q, 'line1\nline2' r,
                        array['2025-01-01 00:00:00+00']::timestamptz[] s,
                        '0001-01-01 00:00:00+00 BC'::timestamptz t";
        result  one;
    }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.types
--- response_body chomp
{"result":{"data":{"a":7,"b":9007199254740993,"c":"1.50","d":2.5,"e":null,"f":true,"g":false,"h":{"s":"a b","x":[1,2]},"i":"2025-06-02T14:00:00.123Z","j":"2025-06-02T14:00:00.000Z","k":null,"l":[1,2,null],"m":["a b","c\"d",null],"n":[[1,2],[3,4]],"o":null,"p":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","q":"2025-06-02","r":"line1\nline2","s":["2025-01-01T00:00:00.000Z"],"t":"0000-01-01T00:00:00.000Z"}}}
--- no_error_log
[error]



=== TEST 5: mutation with a JSON body; strings, numbers, null, objects bind as text
--- http_config eval
$::http_config . q{
    backend_procedure t.echo {
        type    mutation;
        tier    public;
        sql     "select $1::text as s, $2::numeric as n, $3::text is null as missing,
                        $4::jsonb as obj, $5::boolean as b";
        params  input.s input.n input.nothing input.obj input.b;
        result  one;
    }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/t.echo
{"s":"it's \"quoted\" -- not SQL; drop table users","n":123456789012345678901234567890,"obj":{"k":[1,"two"]},"b":true}
--- response_body chomp
{"result":{"data":{"s":"it's \"quoted\" -- not SQL; drop table users","n":"123456789012345678901234567890","missing":true,"obj":{"k":[1,"two"]},"b":true}}}
--- no_error_log
[error]



=== TEST 6: nginx variables as parameters
--- http_config eval
$::http_config . q{
    backend_procedure t.var { tier public; sql "select $1::text as ua"; params $http_user_agent; result value; }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.var
--- more_headers
User-Agent: test-agent/1.0
--- response_body chomp
{"result":{"data":"test-agent/1.0"}}
--- no_error_log
[error]



=== TEST 7: a value the column type refuses is the client's mistake: 400
--- http_config eval
$::http_config . q{
    backend_procedure t.int { tier public; sql "select $1::int as v"; params input; result value; }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.int?input=%22abc%22
--- error_code: 400
--- response_body chomp
{"error":{"message":"Invalid input","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400,"path":"t.int"}}}
--- error_log
invalid input syntax for type integer
--- no_error_log
[error]



=== TEST 7b: a refusal the application's SQL raises (RAISE ... USING ERRCODE 22023) reaches the client with its message
--- http_config eval
$::http_config . q{
    backend_procedure t.role {
        tier public; type mutation;
        sql "select id from app.set_user_role(0, $1)"; params input; result many;
    }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/t.role
"no-such-role"
--- error_code: 400
--- response_body chomp
{"error":{"message":"role \"no-such-role\" does not exist (roles: admin, mentorado, user)","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400,"path":"t.role"}}}
--- no_error_log
[error]



=== TEST 7c: the server's own wording of a refused value stays in the log
--- http_config eval
$::http_config . q{
    backend_procedure t.bad {
        tier public;
        sql "select make_interval(days => $1::int)"; params input; result value;
    }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.bad?input=%2299999999999%22
--- error_code: 400
--- response_body chomp
{"error":{"message":"Invalid input","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400,"path":"t.bad"}}}
--- error_log
out of range for type integer
--- no_error_log
[error]



=== TEST 8: unique violation is 409 CONFLICT, nothing stored
--- http_config eval
$::http_config . q{
    backend_procedure t.dup {
        type    mutation;
        tier    public;
        sql     "insert into users (clerk_id, email, role) values ('t010_dup', 'a', 'user'), ('t010_dup', 'b', 'user')";
        result  none;
    }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/t.dup
--- error_code: 409
--- response_body chomp
{"error":{"message":"CONFLICT","code":-32009,"data":{"code":"CONFLICT","httpStatus":409,"path":"t.dup"}}}
--- no_error_log
[error]



=== TEST 9: other database errors: 500, detail only in the log
--- http_config eval
$::http_config . q{
    backend_procedure t.boom { tier public; sql "select 1 / (random() * 0)::int"; result value; }
    backend_procedure t.gone { tier public; sql "select * from t010_no_such_table"; }
}
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.boom", "GET /trpc/t.gone"]
--- error_code eval
[500, 500]
--- response_body eval
['{"error":{"message":"INTERNAL_SERVER_ERROR","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"t.boom"}}}',
 '{"error":{"message":"INTERNAL_SERVER_ERROR","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500,"path":"t.gone"}}}']
--- error_log eval
["division by zero", "relation \"t010_no_such_table\" does not exist"]



=== TEST 10: statement timeout is 504 GATEWAY_TIMEOUT
--- http_config eval
$::http_config . q{
    backend_procedure t.slow { tier public; sql "select pg_sleep(3)"; result none; }
}
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.slow
--- error_code: 504
--- response_body chomp
{"error":{"message":"Database query timed out","code":-32603,"data":{"code":"GATEWAY_TIMEOUT","httpStatus":504,"path":"t.slow"}}}
--- timeout: 5



=== TEST 11: database down: 503 SERVICE_UNAVAILABLE, at once
--- http_config
    backend_pg down "host=127.0.0.1 port=1 dbname=x user=x" connect_timeout=1s;
    backend_procedure t.down { tier public; sql "select 1"; result value; }
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/t.down
--- error_code: 503
--- response_body chomp
{"error":{"message":"Database unavailable","code":-32603,"data":{"code":"SERVICE_UNAVAILABLE","httpStatus":503,"path":"t.down"}}}
--- error_log
could not connect



=== TEST 12: a statement is prepared once per connection, then executed
--- http_config eval
$::http_config . q{
    backend_procedure t.one { tier public; sql "select $1::int + 1 as v"; params input; result value; }
}
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/t.one?input=1", "GET /trpc/t.one?input=2", "GET /trpc/t.one?input=3"]
--- response_body eval
['{"result":{"data":2}}', '{"result":{"data":3}}', '{"result":{"data":4}}']
--- grep_error_log eval: qr/backend_pg: (?:prepare|execute) \S+/
--- grep_error_log_out eval
["backend_pg: prepare ngx_backend_0\n", "backend_pg: execute ngx_backend_0\n", "backend_pg: execute ngx_backend_0\n"]
--- log_level: debug
--- no_error_log
[error]
