drop index if exists test_runs_judge_of_idx;
alter table test_runs drop column judge_of;
