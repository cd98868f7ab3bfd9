-- Auth hardening (issue 13): API tokens may expire, and stale login-throttle
-- rows are purged by age. Kept in lockstep with ../sqlite/0002_auth_hardening.up.sql.

-- Null: the token never expires (every token made before this migration).
alter table api_tokens add column expires_at timestamptz;

-- Serves the purge of throttle rows whose last failure is older than the decay window.
create index login_throttle_last_failure_idx on login_throttle (last_failure_at);
