"""Sans-IO SIP helpers every role of the reference uses: building responses (responses.py),
header surgery and URI helpers (routing.py), Flow-Timer supervision (supervision.py) and the Via
keep parameter (keep.py)."""
