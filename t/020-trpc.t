# The tRPC HTTP protocol: envelopes, methods, batches, streaming, limits.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_PG_HOST} ||= '127.0.0.1';
$ENV{TEST_NGINX_PG_PORT} ||= 5432;
$ENV{TEST_NGINX_PG_DATABASE} ||= 'backend_test';
$ENV{TEST_NGINX_PG_USER} ||= 'postgres';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $http_config = <<'_EOC_';
    backend_procedure health { type query; tier public; data '{"ok":true}'; }
    backend_procedure add { type mutation; tier public; data '{"added":1}'; }
    backend_procedure secret { type query; tier protected; data '"s"'; }
    backend_procedure Case.Sensitive { tier public; data '"yes"'; }
_EOC_

run_tests();

__DATA__

=== TEST 1: a query
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/health
--- response_body chomp
{"result":{"data":{"ok":true}}}
--- response_headers
Content-Type: application/json
Vary: trpc-accept, accept
--- no_error_log
[error]



=== TEST 2: unknown procedure, and paths are case-sensitive
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/nope", "GET /trpc/case.sensitive", "GET /trpc/Case.Sensitive"]
--- error_code eval
[404, 404, 200]
--- response_body eval
['{"error":{"message":"No procedure found on path \"nope\"","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"nope"}}}',
 '{"error":{"message":"No procedure found on path \"case.sensitive\"","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"case.sensitive"}}}',
 '{"result":{"data":"yes"}}']
--- no_error_log
[error]



=== TEST 3: methods: GET to a mutation, POST to a query, PUT
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/add", "POST /trpc/health", "PUT /trpc/health", "POST /trpc/add"]
--- error_code eval
[405, 405, 405, 200]
--- response_body eval
['{"error":{"message":"Unsupported GET-request to mutation procedure at path \"add\"","code":-32005,"data":{"code":"METHOD_NOT_SUPPORTED","httpStatus":405,"path":"add"}}}',
 '{"error":{"message":"Unsupported POST-request to query procedure at path \"health\"","code":-32005,"data":{"code":"METHOD_NOT_SUPPORTED","httpStatus":405,"path":"health"}}}',
 '{"error":{"message":"Unsupported PUT-request to query procedure at path \"health\"","code":-32005,"data":{"code":"METHOD_NOT_SUPPORTED","httpStatus":405,"path":"health"}}}',
 '{"result":{"data":{"added":1}}}']
--- no_error_log
[error]



=== TEST 4: HEAD is 204 with no body
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
HEAD /trpc/health
--- error_code: 204
--- response_body chomp
--- no_error_log
[error]



=== TEST 5: tiers other than public answer UNAUTHORIZED (no auth module yet)
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/secret
--- error_code: 401
--- response_body chomp
{"error":{"message":"UNAUTHORIZED","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"secret"}}}
--- no_error_log
[error]



=== TEST 6: batch: all OK is 200, mixed is 207, all the same error is that error
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/health,Case.Sensitive?batch=1&input=%7B%7D",
 "GET /trpc/health,secret?batch=1&input=%7B%7D",
 "GET /trpc/secret,secret?batch=1&input=%7B%7D"]
--- error_code eval
[200, 207, 401]
--- response_body eval
['[{"result":{"data":{"ok":true}}},{"result":{"data":"yes"}}]',
 '[{"result":{"data":{"ok":true}}},{"error":{"message":"UNAUTHORIZED","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"secret"}}}]',
 '[{"error":{"message":"UNAUTHORIZED","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"secret"}}},{"error":{"message":"UNAUTHORIZED","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"secret"}}}]']
--- no_error_log
[error]



=== TEST 7: batch input must be an object (when a call reads it, as in tRPC); a batch has a size limit
--- http_config eval
$::http_config . q{
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER";
    backend_procedure reads { tier public; sql "select $1::text"; params input; result value; }
}
--- config
    location /trpc/ {
        backend_rpc;
        backend_rpc_max_batch 2;
    }
--- request eval
["GET /trpc/health,reads?batch=1&input=%5B1%5D",
 "GET /trpc/health,health?batch=1&input=%5B1%5D",
 "GET /trpc/health,health,health?batch=1&input=%7B%7D"]
--- error_code eval
[400, 200, 400]
--- response_body eval
['{"error":{"message":"\"input\" needs to be an object when doing a batch call","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400}}}',
 '[{"result":{"data":{"ok":true}}},{"result":{"data":{"ok":true}}}]',
 '{"error":{"message":"Batch call exceeds maximum size","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400}}}']
--- no_error_log
[error]



=== TEST 8: invalid JSON input is BAD_REQUEST for procedures that read input
--- http_config eval
$::http_config . q{
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER";
    backend_procedure reads { tier public; sql "select $1::text"; params input; result value; }
}
--- config
    location /trpc/ { backend_rpc; }
--- request eval
["GET /trpc/reads?input=%7Bnope", "GET /trpc/health?input=%7Bnope",
 "GET /trpc/reads?input=%5B%5B%5B%5B%5B", "GET /trpc/reads?input=%7B%22a%22%3A"]
--- error_code eval
[400, 200, 400, 400]
--- response_body_like eval
['^\{"error":\{"message":"Invalid JSON: [^"]+","code":-32600,"data":\{"code":"BAD_REQUEST","httpStatus":400,"path":"reads"\}\}\}$',
 '^\{"result":\{"data":\{"ok":true\}\}\}$',
 '^\{"error":\{"message":"Invalid JSON: premature EOF at \d+","code":-32600,',
 '^\{"error":\{"message":"Invalid JSON: premature EOF at \d+","code":-32600,']
--- no_error_log
[error]



=== TEST 9: streaming needs a batch
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/health
--- more_headers
trpc-accept: application/jsonl
--- error_code: 400
--- response_body chomp
{"error":{"message":"Streaming requests must be batched (you can do a batch of 1)","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400}}}
--- no_error_log
[error]



=== TEST 10: v11 JSON lines when everything is known at once
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/health,secret?batch=1&input=%7B%7D
--- more_headers
trpc-accept: application/jsonl
--- error_code: 200
--- response_body
{"0":[[{"result":{"data":{"ok":true}}}]],"1":[[{"error":{"message":"UNAUTHORIZED","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,"path":"secret"}}}]]}
--- no_error_log
[error]



=== TEST 11: v10 streaming batch
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/health,Case.Sensitive?batch=1&input=%7B%7D
--- more_headers
trpc-batch-mode: stream
--- error_code: 200
--- response_body
{"0":{"result":{"data":{"ok":true}}}
,"1":{"result":{"data":"yes"}}
}
--- no_error_log
[error]



=== TEST 12: a body over client_max_body_size is a 413 envelope
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 16;
        backend_rpc;
    }
--- request
POST /trpc/add
{"this body":"is longer than sixteen bytes"}
--- error_code: 413
--- response_body chomp
{"error":{"message":"PAYLOAD_TOO_LARGE","code":-32013,"data":{"code":"PAYLOAD_TOO_LARGE","httpStatus":413}}}
--- response_headers
Content-Type: application/json
--- no_error_log
[error]



=== TEST 13: a chunked body over the limit, too
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 16;
        backend_rpc;
    }
--- raw_request eval
"POST /trpc/add HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
14\r
{\"a\":\"0123456789ab\"}\r
0\r
\r
"
--- error_code: 413
--- response_body chomp
{"error":{"message":"PAYLOAD_TOO_LARGE","code":-32013,"data":{"code":"PAYLOAD_TOO_LARGE","httpStatus":413}}}
--- no_error_log
[error]



=== TEST 14: the input of a query: '+' is a space, as URLSearchParams reads it
--- http_config
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER";
    backend_procedure echo { tier public; sql "select $1::text"; params input.s; result value; }
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/echo?input=%7B%22s%22%3A%22a+b%2Bc%22%7D
--- response_body chomp
{"result":{"data":"a b+c"}}
--- no_error_log
[error]



=== TEST 15: a well-formed X-Request-Id is kept, returned and logged
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/nope
--- more_headers
X-Request-Id: req-42.a:b_c
--- error_code: 404
--- response_headers
X-Request-Id: req-42.a:b_c
--- no_error_log
[error]



=== TEST 16: a malformed X-Request-Id is replaced; error log lines carry it
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 4;
        backend_rpc;
    }
--- request
POST /trpc/add
{"too":"long"}
--- more_headers
X-Request-Id: bad id!
--- error_code: 413
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- error_log eval
qr/too large body: \d+ bytes, client: .*, request_id: "[0-9a-f]{32}", trace_id: "[0-9a-f]{32}", actor: -/
--- no_error_log
[error]



=== TEST 17: a generated request id is $request_id too
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        add_header X-Same "$request_id=$sent_http_x_request_id";
        backend_rpc;
    }
--- request
GET /trpc/health
--- response_headers_like
X-Same: ([0-9a-f]{32})=\1
--- no_error_log
[error]
