"""README's promises: the model-zoo table is the generated one, the two commands are there, CI runs the test one."""

import os
import re

from rfbnet_tf.zoo_table import END, START, replace_table, zoo_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_model_zoo_table_is_generated_from_the_code():
    readme = _read("README.md")
    assert replace_table(readme, zoo_table()) == readme, (
        "README's model table is stale: run `python -m rfbnet_tf.zoo_table --update README.md`"
    )
    table = readme.split(START, 1)[1].split(END, 1)[0]
    assert "| `rfbnet_erfnet_enc` |" in table and "| 1,876,495 |" in table


def test_readme_has_the_main_job_and_the_test_command_and_ci_runs_the_test_command():
    readme = _read("README.md")
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    main_job = [c for c in commands if "rfbnet_tf.train" in c]
    test_cmd = [c for c in commands if "pytest" in c]
    assert main_job and "pip install" in main_job[0] and "rfbnet_tf.export" in main_job[0]
    assert test_cmd
    assert test_cmd[0].strip() in _read(".ci", "run")


def _flag(text, name):
    match = re.search(rf"^--{name}=(.+)$", text, flags=re.M)
    assert match, name
    return match.group(1).strip()


def test_main_job_steps_frames_and_time_come_from_the_flagfile_and_its_measurement():
    flagfile = _read("experiments", "synthetic.flags")
    readme = _read("README.md")
    steps, train, val = (_flag(flagfile, n) for n in ("steps", "synthetic_train", "synthetic_val"))
    height, width = _flag(flagfile, "synthetic_size").split(",")
    assert f"renders {train} + {val} synthetic {height}×{width} frames" in readme
    assert f"trains for {steps} steps" in readme and f"already trained to step {steps}" in readme
    # The flagfile records the measured main job as a newcomer runs it (pip install, first run) and its rerun;
    # README quotes the first in whole minutes, the rerun in tens of seconds.
    measured = re.search(r"^# Main job: (\d+) min (\d+) s the first time \(.*`pip install -e \.`", flagfile,
                         flags=re.M)
    assert measured, ("experiments/synthetic.flags lacks its '# Main job: M min S s the first time (... "
                      "`pip install -e .` ...' measurement line")
    minutes = round((int(measured.group(1)) * 60 + int(measured.group(2))) / 60)
    rerun = re.search(r"^#\s+Run again: (\d+) s ", flagfile, flags=re.M)
    assert rerun, "experiments/synthetic.flags lacks its '#  Run again: S s ...' measurement line"
    seconds = round(int(rerun.group(1)), -1)
    assert (f"(about {minutes} minutes on 2 CPU cores the first time, the `pip install` of already downloaded "
            f"packages included; about {seconds} s when run again") in " ".join(readme.split())
    main_job = [c for c in re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S) if "rfbnet_tf.train" in c][0]
    assert "--flagfile=experiments/synthetic.flags" in main_job
    assert "rfbnet_tf.export --model_dir=runs/synthetic --overwrite" in main_job  # a rerun replaces the export
