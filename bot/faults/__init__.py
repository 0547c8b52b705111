"""The fault suite: `python -m bot faults` and the hostile-input generators it uses."""
