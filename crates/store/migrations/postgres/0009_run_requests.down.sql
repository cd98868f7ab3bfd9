alter table test_runs drop column replay_of;
alter table test_runs drop column tool_calls;
alter table test_runs drop column system_fingerprint;
alter table test_runs drop column response_model;
alter table test_runs drop column response_id;
alter table test_runs drop column request_body;
