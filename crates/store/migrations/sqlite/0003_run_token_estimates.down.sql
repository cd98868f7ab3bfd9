alter table test_runs drop column tokens_estimated;
