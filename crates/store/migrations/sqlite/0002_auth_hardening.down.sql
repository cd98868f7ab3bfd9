drop index login_throttle_last_failure_idx;
alter table api_tokens drop column expires_at;
