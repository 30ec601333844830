"""Course assignments from minicnn's own source: `make` a student copy, `grade` it.

- markers.py     the `# BEGIN SOLUTION name` / `# END SOLUTION` comments around exercise bodies
- exercises.py   the catalogue: each exercise's file, task, points and fixed graded inputs
- student.py     make(outdir): the student copy with stubs, public tests and a README
- copy_fast.py   the copy's minicnn/fast: a switch that always runs the readable ops
- record.py      the instructor's record of each copy: hidden cases' seed, SHA-256 of its files
- grader.py      grade(student_dir): the student's package in its own process (runner.py)
                 produces arrays; the grader compares them with the installed reference and
                 scores every output; a table, Gradescope's results.json, a gradebook CSV
- diagnose.py    names the likely mistake behind a wrong gradient
- gradescope.py  the autograder folder and zip for Gradescope
- notebooks.py   the tutorials as notebook assignments: stubs and check cells
"""
from minicnn.assignment import record  # noqa: F401
from minicnn.assignment.grader import grade, grade_batch  # noqa: F401
from minicnn.assignment.student import make  # noqa: F401
