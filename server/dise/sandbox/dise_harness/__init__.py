"""The program that runs inside the sandbox process: load the candidate, run the test code, report.

A package of its own, started by ``dise.sandbox.process`` as ``python -s -B -P -m dise_harness
JOB`` with only this package's parent folder on ``PYTHONPATH``, in a fresh run directory (under
bubblewrap or unshare where the machine allows; bubblewrap mounts the package read-only). It
imports nothing from ``dise`` and only the standard library, so importing it here
(``dise.sandbox.dise_harness``) does not start anything.

Modules: ``limits`` (rlimits, network, the test timer), ``streams`` (capped output),
``guard`` (the audit hook), ``report`` (the channel and value encoding), ``prepared`` (one
test, exceptions as data), ``run`` (``Harness`` and ``main``), ``__main__``.

This process is untrusted once the candidate is loaded, so it decides nothing: it never sees the
expected values and never says "passed". For every test it reports what the code returned,
printed or raised, as a data-only tagged tree (``encode``) over a dedicated pipe with length
framing; the trusted parent (``dise.sandbox.verdict``) compares. Anything it reports can be
forged by the candidate, which is why only values matter and expectations stay outside.

Order matters: limits first, then everything the harness itself needs while it is still trusted,
then the audit hook (processes, network, native code, writes outside the run directory, reads
outside the interpreter's own files), and only then the candidate.
"""
