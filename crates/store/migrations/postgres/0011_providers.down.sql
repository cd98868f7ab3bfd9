drop table providers;
