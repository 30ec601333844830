"""Course assignments from minicnn's own source: `make` a student copy, `grade` it.

- markers.py     the `# BEGIN SOLUTION name` / `# END SOLUTION` comments around exercise bodies
- exercises.py   the catalogue: each exercise's file, task, points and fixed graded inputs
- student.py     make(outdir): the student copy with stubs, public tests and a README
- grader.py      grade(student_dir): the student's package in its own process (runner.py),
                 compared with the installed reference, as a score table
- diagnose.py    names the likely mistake behind a wrong gradient
"""
from minicnn.assignment.grader import grade  # noqa: F401
from minicnn.assignment.student import make  # noqa: F401
