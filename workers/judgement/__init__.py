"""Judgement of complaint messages: category, urgency, department, resubmissions and incident grouping.

Pure and in-process; import what you need from the submodules (`judge.Judge`, `grouping.build_engine`,
`incidents.IncidentStore`, ...). See docs/judgement.md.
"""
