alter table experiment_cells drop column scores;
