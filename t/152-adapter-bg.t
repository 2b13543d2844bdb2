# Adapter calls of queue items and job slots ("call" in backend_queue and
# backend_schedule, issue 15) at configuration time: each mistake an
# [emerg] naming the file and the line of the "call".  The calls
# themselves: t/e2e/queue-call.test.mjs.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

our $http_config = <<'_EOC_';
    backend_pg main "host=127.0.0.1 dbname=x";
    backend_adapter mail {
        location /_adapters/mail;
        timeout  1s;
        budget   2s;
        idempotency header=Idempotency-Key;
    }
    backend_adapter nokey {
        location /_adapters/nokey;
        timeout  1s;
        budget   2s;
    }
    backend_adapter nowhere {
        location /_adapters/nowhere;
        idempotency header=Idempotency-Key;
    }
    include ../html/jobs.conf;
_EOC_

our $config = <<'_EOC_';
    location = /_adapters/mail { internal; proxy_pass http://127.0.0.1:1; }
    location = /_adapters/nokey { internal; proxy_pass http://127.0.0.1:1; }
_EOC_

run_tests();

__DATA__

=== TEST 1: a call to an adapter nobody declared
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select 1";

    call    nope POST "/v1/x" body=item.payload;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_queue "q" calls unknown adapter "nope" in \S*jobs\.conf:4$/



=== TEST 2: a value that is not the item's
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select 1";
    call    mail POST "/v1/x/{input.to}";
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "\{input\.to\}" in "call": expected \{item\.field\} in \S*jobs\.conf:3$/



=== TEST 3: an empty segment in a value
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select 1";
    call    mail GET "/v1/x/{item.payload..to}";
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "\{item\.payload\.\.to\}" in "call": expected \{item\.field\} in \S*jobs\.conf:3$/



=== TEST 4: a job's call has the slot's values, not an item's
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_schedule j {
    every   1m;
    sql     "select 1";
    call    mail GET "/v1/digest/{item.id}";
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "\{item\.id\}" in "call": expected \{slot\.field\} in \S*jobs\.conf:4$/



=== TEST 5: body=input in a queue; a key of the client's
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select 1";
    call    mail POST "/v1/x" body=input;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "body=input" in "call" \(body=item, body=item\.payload\) in \S*jobs\.conf:3$/



=== TEST 6: a POST needs the adapter's idempotency header: the item is tried again
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select 1";
    call    nokey POST "/v1/x" body=item.payload;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_queue "q": a POST call needs "idempotency header=" in adapter "nokey" \(its key is the item's own\) in \S*jobs\.conf:3$/



=== TEST 7: call.result without a call
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select $1::jsonb";
    params  call.result;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_queue "q" in \S*jobs\.conf:1: params names the answer of a call, and the block has no "call"/



=== TEST 8: an adapter whose location is in no server
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select 1";
    call    nowhere GET "/v1/x";
}
--- must_die
--- error_log eval
qr/\[emerg\] .*backend_queue "q" in \S*jobs\.conf:3 calls adapter "nowhere", whose location "\/_adapters\/nowhere" is in no server/



=== TEST 9: two calls
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select 1";
    call    mail GET "/v1/x";
    call    mail GET "/v1/y";
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"call" directive is duplicate in \S*jobs\.conf:4$/



=== TEST 10: an unknown param names the call's too
--- http_config eval: $::http_config
--- config eval: $::config
--- user_files
>>> jobs.conf
backend_queue q {
    sql     "select $1";
    call    mail GET "/v1/x";
    params  call.body;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown param "call\.body" \(item\.payload, item\.id, item\.attempt, item\.key, item\.queue, call\.result or call\.status\) in \S*jobs\.conf:4$/



=== TEST 11: a valid queue and job with calls pass, their adapter's location still internal
--- http_config eval
my $c = $::http_config;
$c =~ s/host=127\.0\.0\.1 dbname=x/host=\$TEST_NGINX_PG_HOST port=\$TEST_NGINX_PG_PORT dbname=\$TEST_NGINX_PG_DATABASE user=\$TEST_NGINX_PG_USER/;
$c
--- config
    # the job's slot of this hour may run (and the call go out) before the
    # log is read: an API that answers, so the test does not race it
    location = /_adapters/mail {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_fake/mail;
    }
    location = /_adapters/nokey { internal; proxy_pass http://127.0.0.1:1; }
    location = /_fake/mail { return 200 '{"id":"m_1"}'; }
--- user_files
>>> jobs.conf
backend_queue q {
    call    mail POST "/v1/emails/{item.payload.to}?id={item.id}" body=item.payload;
    sql     "select $1::jsonb, $2::int";
    params  call.result call.status;
}
backend_schedule j {
    every   1h;
    call    mail GET "/v1/digest/{slot.job}?at={slot.time}";
    sql     "select $1::jsonb";
    params  call.result;
}
--- request
GET /_adapters/mail
--- error_code: 404
--- wait: 2
--- no_error_log
[error]
[emerg]
