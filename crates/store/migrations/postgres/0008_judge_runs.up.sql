-- An LLM judge's call is a run of the judge prompt (issue 15): it names the
-- run it judged. A run with judge_of set answers kind "judge" in the API.
-- Judge runs carry no experiment_id: an experiment's runs are its cells'.
alter table test_runs add column judge_of uuid;
create index test_runs_judge_of_idx on test_runs (judge_of) where judge_of is not null;
