# Request bodies of backend_rpc and backend_webhook locations: the limit is
# enforced while the body is read (issue 11, item 1).  Asserted on the
# server's side: $request_length in an access log written into the error
# log, and nginx's warning when a body goes to client_body_temp.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();
log_level('info');

# 4x the limit (65536 bytes), in chunks of 4096
our $chunked_4x = join '', map { sprintf("%x\r\n%s\r\n", 4096, 'x' x 4096) }
                               1 .. 64;

our $http_config = <<'_EOC_';
    backend_procedure add { type mutation; tier public; data '{"added":1}'; }
    log_format body 'body_read request_length=$request_length status=$status';
_EOC_

run_tests();

__DATA__

=== TEST 1: tRPC: a chunked body of 4x the limit is not read past the limit, not stored, 413 envelope
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 64k;
        access_log logs/error.log body;
        backend_rpc;
    }
--- raw_request eval
"POST /trpc/add HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
$::chunked_4x" . "0\r\n\r\n"
--- error_code: 413
--- response_body chomp
{"error":{"message":"PAYLOAD_TOO_LARGE","code":-32013,"data":{"code":"PAYLOAD_TOO_LARGE","httpStatus":413}}}
--- error_log eval
[qr/client sent too large body: more than 65536 bytes/,
 qr/body_read request_length=(6[5-9]|[78]\d)\d{3} status=413/]
--- no_error_log
buffered to a temporary file
[error]



=== TEST 2: a webhook: the same, with the webhook's JSON
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- config
    location = /wh {
        client_max_body_size 64k;
        access_log logs/error.log body;
        backend_webhook svix;
        backend_webhook_secret ../html/secret;
        backend_webhook_sql "select status, clerk_user from app.receive_clerk_webhook($1, $2, $3::jsonb)";
    }
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
    log_format body 'body_read request_length=$request_length status=$status';
--- raw_request eval
"POST /wh HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
$::chunked_4x" . "0\r\n\r\n"
--- error_code: 413
--- response_body chomp
{"error":"payload too large"}
--- error_log eval
[qr/client sent too large body: more than 65536 bytes/,
 qr/body_read request_length=(6[5-9]|[78]\d)\d{3} status=413/]
--- no_error_log
buffered to a temporary file
[error]



=== TEST 3: Expect: 100-continue with a Content-Length over the limit: 413 without "100 Continue"
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 64k;
        backend_rpc;
    }
--- raw_request eval
"POST /trpc/add HTTP/1.1\r
Host: localhost\r
Content-Length: 262144\r
Expect: 100-continue\r
\r
"
--- error_code: 413
--- response_body chomp
{"error":{"message":"PAYLOAD_TOO_LARGE","code":-32013,"data":{"code":"PAYLOAD_TOO_LARGE","httpStatus":413}}}
--- response_headers
Connection: close
--- error_log
client intended to send too large body: 262144 bytes
--- no_error_log
[error]



=== TEST 4: the same for a webhook
--- user_files
>>> secret
whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
--- http_config
    backend_pg main "host=127.0.0.1 dbname=x";
--- config
    location = /wh {
        client_max_body_size 64k;
        backend_webhook svix;
        backend_webhook_secret ../html/secret;
        backend_webhook_sql "select status, clerk_user from app.receive_clerk_webhook($1, $2, $3::jsonb)";
    }
--- raw_request eval
"POST /wh HTTP/1.1\r
Host: localhost\r
Content-Length: 262144\r
Expect: 100-continue\r
\r
"
--- error_code: 413
--- response_body chomp
{"error":"payload too large"}
--- no_error_log
[error]



=== TEST 5: Expect: 100-continue within the limit still gets "100 Continue" and is read
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 64k;
        backend_rpc;
    }
--- raw_request eval
"POST /trpc/add HTTP/1.1\r
Host: localhost\r
Connection: close\r
Content-Length: 9\r
Expect: 100-continue\r
\r
{\"a\":\"b\"}"
--- error_code: 100
--- no_error_log
[error]



=== TEST 6: a chunked body within the limit, in chunks whose framing is larger than the limit, is read whole in memory
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 4k;
        backend_rpc;
    }
--- raw_request eval
my $json = '{"a":"' . ('y' x 3000) . '"}';
"POST /trpc/add HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
" . CORE::join('', map { "1\r\n$_\r\n" } split //, $json) . "0\r\n\r\n"
--- error_code: 200
--- response_body chomp
{"result":{"data":{"added":1}}}
--- no_error_log
buffered to a temporary file
[error]



=== TEST 7: an empty chunked body and a body of exactly the limit
--- http_config eval: $::http_config
--- config
    location /trpc/ {
        client_max_body_size 16;
        backend_rpc;
    }
--- raw_request eval
["POST /trpc/add HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
0\r
\r
",
"POST /trpc/add HTTP/1.1\r
Host: localhost\r
Connection: close\r
Transfer-Encoding: chunked\r
\r
8\r
{\"a\":\"01\r
8\r
234567\"}\r
0\r
\r
"]
--- error_code eval
[200, 200]
--- response_body eval
['{"result":{"data":{"added":1}}}', '{"result":{"data":{"added":1}}}']
--- no_error_log
[error]
