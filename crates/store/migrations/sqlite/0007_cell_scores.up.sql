-- Each cell's scores, one per evaluator of its experiment (issue 15):
-- a JSON array of { evaluator, type, value, pass, reason?, error? },
-- written with the cell's outcome and again by a rescore. Null until scored.
alter table experiment_cells add column scores text;
