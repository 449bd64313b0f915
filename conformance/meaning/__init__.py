"""The meaning layer: checks, grading, judging, verdicts and results.

Plain functions and objects over recorded messages; nothing here opens a socket (a test of the
import rules holds it so).  Live runs and offline re-judging both judge through this package.
"""
