drop table model_presets;
