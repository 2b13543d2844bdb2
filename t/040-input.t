# Input contracts: JSON Schema files compiled when the configuration loads,
# enforced before any SQL, rejected input answered as tRPC apps answer it.

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
    backend_pg main "host=$TEST_NGINX_PG_HOST port=$TEST_NGINX_PG_PORT dbname=$TEST_NGINX_PG_DATABASE user=$TEST_NGINX_PG_USER";
    backend_procedure echo {
        type    mutation;
        tier    public;
        input   $TEST_NGINX_SERVER_ROOT/html/s.json;
        sql     "select $1::json as input";
        params  input;
        result  value;
    }
_EOC_

our $schema = <<'_EOS_';
>>> s.json
{"type": "object",
 "properties": {
   "n": {"type": "integer", "minimum": 1, "default": 7},
   "s": {"type": "string", "maxLength": 2}},
 "required": ["s"]}
_EOS_

run_tests();

__DATA__

=== TEST 1: valid input, with the default applied before binding
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/echo
{"s":"ok"}
--- response_body chomp
{"result":{"data":{"s":"ok","n":7}}}
--- no_error_log
[error]



=== TEST 2: rejected input: BAD_REQUEST, Zod's issues, zodError; no SQL runs
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/echo
{"s":"long","n":0}
--- error_code: 400
--- response_body chomp
{"error":{"message":"[\n  {\n    \"origin\": \"number\",\n    \"code\": \"too_small\",\n    \"minimum\": 1,\n    \"inclusive\": true,\n    \"path\": [\n      \"n\"\n    ],\n    \"message\": \"Too small: expected number to be >=1\"\n  },\n  {\n    \"origin\": \"string\",\n    \"code\": \"too_big\",\n    \"maximum\": 2,\n    \"inclusive\": true,\n    \"path\": [\n      \"s\"\n    ],\n    \"message\": \"Too big: expected string to have <=2 characters\"\n  }\n]","code":-32600,"data":{"code":"BAD_REQUEST","httpStatus":400,"path":"echo","zodError":{"formErrors":[],"fieldErrors":{"n":["Too small: expected number to be >=1"],"s":["Too big: expected string to have <=2 characters"]}}}}}
--- error_log
invalid input
--- no_error_log
[error]
backend_pg: execute



=== TEST 3: missing input where the schema wants an object
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/echo
--- error_code: 400
--- response_body_like: "formErrors":\["Invalid input: expected object, received undefined"\]
--- no_error_log
[error]



=== TEST 4: a batch: each call checked against its own input
--- http_config eval: $::http_config
--- user_files eval: $::schema
--- config
    location /trpc/ { backend_rpc; }
--- request
POST /trpc/echo,echo?batch=1
{"0":{"s":"a"},"1":{"s":1}}
--- error_code: 207
--- response_body_like: ^\[\{"result":\{"data":\{"s":"a","n":7\}\}\},\{"error":\{"message":"\[\\n  \{\\n    \\"expected\\": \\"string\\"
--- no_error_log
[error]



=== TEST 5: a schema that is not JSON fails nginx -t, naming file and line
--- http_config eval: $::http_config
--- user_files
>>> s.json
{"type": "object",
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid schema ".*s\.json": Invalid JSON: premature EOF.* in .*nginx\.conf:\d+/



=== TEST 6: an unsupported keyword fails nginx -t with its JSON pointer
--- http_config eval: $::http_config
--- user_files
>>> s.json
{"type": "object", "properties": {"a": {"unevaluatedProperties": false}}}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid schema ".*s\.json": \/properties\/a\/unevaluatedProperties: unsupported keyword in .*nginx\.conf:\d+/



=== TEST 7: a malformed keyword, and a reference to nowhere
--- http_config eval: $::http_config
--- user_files
>>> s.json
{"properties": {"a": {"minimum": "1"}}}
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*\/properties\/a\/minimum: must be a finite number in /



=== TEST 8: a missing schema file
--- http_config eval: $::http_config
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) ".*s\.json" failed \(2: No such file or directory\) in .*nginx\.conf:\d+/
