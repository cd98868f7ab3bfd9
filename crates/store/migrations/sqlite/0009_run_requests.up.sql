-- A run keeps the exact request body it sent (issue 17: the version is the
-- whole recipe), as text so a replay sends it byte for byte, and what the
-- answer said about itself. The API key is a header, never in the body.
alter table test_runs add column request_body text;
alter table test_runs add column response_id text;
alter table test_runs add column response_model text;
alter table test_runs add column system_fingerprint text;
-- JSON: [{id, name, arguments}] assembled from the answer's tool calls.
alter table test_runs add column tool_calls text;
-- The run whose stored body this run sent again (POST …/replay).
alter table test_runs add column replay_of text;
