"""The judgement lab: everything run by hand to build or measure the judgement artefacts — dataset loading,
training, evaluation, cross-validation, weak and teacher labels, fine-tuning, benches and the offline JSON
Lines commands. The gateway and the workers never import it (tests/unit/test_runtime_imports.py): they load
the committed artefacts under workers/judgement/model/ with the runtime code of workers/judgement/."""
