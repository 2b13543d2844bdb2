# nginx's own 4xx/5xx as tRPC envelopes (issue 11, item 20): errors that
# happen before a location is chosen (a header or a URI larger than
# large_client_header_buffers, a malformed request line) reach a
# backend_error_page location through the server's error_page (a URI:
# nginx refuses a named location for a request whose URI is not parsed).

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

our $http_config = <<'_EOC_';
    backend_procedure health { tier public; data '{"ok":true}'; }
    large_client_header_buffers 2 1k;
_EOC_

our $config = <<'_EOC_';
    error_page 400 404 408 413 414 500 502 503 504 /.backend/error;
    error_page 494 =494 /.backend/error;
    location = /.backend/error { internal; backend_error_page; }
    location /trpc/ { backend_rpc; }
    location = /down { return 503; }
    location = /oops { return 500; }
    location = /gone { return 404; }
    location = /small { client_max_body_size 8; return 204; }
_EOC_

our $token = 'Bearer ' . ('x' x 2000);

run_tests();

__DATA__

=== TEST 1: an Authorization header larger than large_client_header_buffers: JSON 400
--- http_config eval: $::http_config
--- config eval: $::config
--- request
GET /trpc/health
--- more_headers eval
"Authorization: $::token"
--- error_code: 400
--- response_body chomp
{"error":{"message":"Request Header Or Cookie Too Large","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400}}}
--- response_headers
Content-Type: application/json
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- error_log
client sent too long header line
--- no_error_log
[error]



=== TEST 2: a URI larger than large_client_header_buffers: JSON 414
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
"GET /trpc/" . ('a' x 2000)
--- error_code: 414
--- response_body chomp
{"error":{"message":"Request-URI Too Large","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":414}}}
--- response_headers
Content-Type: application/json
--- no_error_log
[error]



=== TEST 3: a malformed request line: JSON 400
--- http_config eval: $::http_config
--- config eval: $::config
--- raw_request eval
"GET /trpc/health HTTP/1.1 junk\r\nHost: localhost\r\n\r\n"
--- error_code: 400
--- response_body chomp
{"error":{"message":"Bad Request","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400}}}
--- response_headers
Content-Type: application/json
--- error_log
client sent invalid request
--- no_error_log
[error]



=== TEST 4: a request without Host in HTTP/1.1: JSON 400
--- http_config eval: $::http_config
--- config eval: $::config
--- raw_request eval
"GET /trpc/health HTTP/1.1\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- response_body chomp
{"error":{"message":"Bad Request","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400}}}
--- no_error_log
[error]



=== TEST 5: nginx's 5xx and 404 of other locations, and HEAD without a body
--- http_config eval: $::http_config
--- config eval: $::config
--- request eval
["GET /down", "GET /oops", "GET /gone", "HEAD /down"]
--- error_code eval
[503, 500, 404, 503]
--- response_body eval
['{"error":{"message":"Service Temporarily Unavailable","code":-32603,"data":{"code":"SERVICE_UNAVAILABLE","httpStatus":503}}}',
 '{"error":{"message":"Internal Server Error","code":-32603,"data":{"code":"INTERNAL_SERVER_ERROR","httpStatus":500}}}',
 '{"error":{"message":"Not Found","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404}}}',
 '']
--- no_error_log
[error]



=== TEST 6: a body over the server's client_max_body_size outside backend locations: JSON 413
--- http_config eval: $::http_config
--- config eval: $::config
--- request
POST /small
0123456789abcdef
--- error_code: 413
--- response_body chomp
{"error":{"message":"Request Entity Too Large","code":-32013,"data":{"code":"PAYLOAD_TOO_LARGE","httpStatus":413}}}
--- error_log eval
qr/\[error\] .*client intended to send too large body: \d+ bytes/
--- no_error_log
[alert]



=== TEST 7: the tRPC location's own envelopes are unchanged
--- http_config eval: $::http_config
--- config eval: $::config
--- request
GET /trpc/nope
--- error_code: 404
--- response_body chomp
{"error":{"message":"No procedure found on path \"nope\"","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404,"path":"nope"}}}
--- no_error_log
[error]



=== TEST 8: the error location is internal: a direct request is a JSON 404
--- http_config eval: $::http_config
--- config eval: $::config
--- request
GET /.backend/error
--- error_code: 404
--- response_body chomp
{"error":{"message":"Not Found","code":-32004,"data":{"code":"NOT_FOUND","httpStatus":404}}}
--- no_error_log
[error]



=== TEST 9: without "=494", nginx's error_page turns 494 into a 400: a JSON 400
--- http_config eval: $::http_config
--- config
    error_page 494 /.backend/error;
    location = /.backend/error { internal; backend_error_page; }
    location /trpc/ { backend_rpc; }
--- request
GET /trpc/health
--- more_headers eval
"Authorization: $::token"
--- error_code: 400
--- response_body chomp
{"error":{"message":"Bad Request","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400}}}
--- no_error_log
[error]



=== TEST 10: origins listed at server level get CORS headers on these errors too
--- http_config eval: $::http_config
--- config eval: "backend_cors_origins https://app.example;\n" . $::config
--- request
GET /trpc/health
--- more_headers eval
"Origin: https://app.example\r\nAuthorization: $::token"
--- error_code: 400
--- response_headers
Access-Control-Allow-Origin: https://app.example
Content-Type: application/json
--- no_error_log
[error]



=== TEST 11: backend_error_page in a location with another handler is refused
--- http_config eval: $::http_config
--- config
    location /trpc/ { backend_rpc; backend_error_page; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"backend_error_page" directive is duplicate, or the location has another handler in .*nginx\.conf:\d+/
