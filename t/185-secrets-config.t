# Managed services at configuration time: Redis's address (no URL, TLS
# through a stream hop), its ACL user and password file, and the webhook
# secret files, each refusal at its file and line, no secret echoed.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
no_long_string();

run_tests();

__DATA__

=== TEST 1: rediss:// points at the TLS hop, without echoing the URL
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis rediss://default:s3cr3t@redis.example.com:6380;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"rediss:\/\/" is not supported: TLS goes through a local stream server with proxy_ssl on, whose address is given here \(see "Managed services" in docs\/deployment\.md\) in \S+nginx\.conf:\d+/
--- no_error_log
s3cr3t



=== TEST 2: a redis:// URL: host:port and parameters instead
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis redis://app:s3cr3t@127.0.0.1:6379/2;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"redis:\/\/" URLs are not supported: give the address as host:port, the credentials as user= and password=file, the database as db= in \S+nginx\.conf:\d+/
--- no_error_log
s3cr3t



=== TEST 3: user= needs a password
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 user=app;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*redis user="app" needs password=file \(AUTH user password\) in \S+nginx\.conf:\d+/



=== TEST 4: user= is not empty
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 user=;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "user=" in \S+nginx\.conf:\d+/



=== TEST 5: a missing password file
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 user=app password=../html/nope;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) ".*html\/nope" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 6: a password "file" that cannot be read (a directory)
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 password=../html;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*pread\(\) ".*html" failed \(21: Is a directory\) in \S+nginx\.conf:\d+/



=== TEST 7: an empty password file (a newline only) is refused, not "no AUTH"
--- user_files
>>> redis-password

--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:6379 password=../html/redis-password;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*the redis password file "..\/html\/redis-password" is empty in \S+nginx\.conf:\d+/



=== TEST 8: user= and a password file ending in a newline are accepted
--- user_files
>>> redis-password
s3cr3t
--- http_config
    backend_session_zone sessions:1m;
    backend_session_redis 127.0.0.1:1 user=app password=../html/redis-password
                          connect_timeout=100ms;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
s3cr3t



=== TEST 9: a missing webhook secret file
--- config
    location = /wh {
        backend_webhook svix;
        backend_webhook_secret ../html/nope;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*open\(\) ".*html\/nope" failed \(2: No such file or directory\) in \S+nginx\.conf:\d+/



=== TEST 10: a webhook secret "file" that cannot be read (a directory)
--- config
    location = /wh {
        backend_webhook svix;
        backend_webhook_secret ../html;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*pread\(\) ".*html" failed \(21: Is a directory\) in \S+nginx\.conf:\d+/
