drop table experiment_item_facts;
alter table experiments drop column summary;
alter table experiments drop column derived_at;
