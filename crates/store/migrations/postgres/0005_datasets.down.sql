drop table dataset_items;
drop function dataset_items_reject_change();
drop table datasets;
