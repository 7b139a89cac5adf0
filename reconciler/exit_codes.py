"""Every exit code the tool returns, defined once (docs/design.md, "Exit codes"); every command's --help lists them."""

from __future__ import annotations

OK = 0  # success; with --detailed-exitcode: no changes
ERROR = 1  # an expected error: bad input, a refusal, a failed action
CHANGES = 2  # plan --detailed-exitcode: the plan has changes
INTERNAL = 3  # a bug: one line with the version and "please report"
INTERRUPTED = 130  # Ctrl-C
TERMINATED = 143  # SIGTERM (a cancelled CI job)

#: The text every command's --help ends with (restic lists its exit codes in each command's help).
HELP = ("Exit codes: 0 success (with --detailed-exitcode: no changes); 1 bad input, a refusal or a failed action; "
        "2 changes (plan --detailed-exitcode); 3 an internal error (please report it); 130 Ctrl-C; 143 SIGTERM.")
