drop trigger dataset_items_immutable;
drop table dataset_items;
drop table datasets;
