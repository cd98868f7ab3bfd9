drop index test_runs_experiment_idx;
alter table test_runs drop column attempts;
alter table test_runs drop column repeat_index;
alter table test_runs drop column variant;
alter table test_runs drop column item_id;
alter table test_runs drop column experiment_id;
drop table experiment_cells;
drop table experiment_items;
drop table experiments;
