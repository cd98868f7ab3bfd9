alter table test_runs drop column owner_instance;
drop table instances;
