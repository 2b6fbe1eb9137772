"""What every binary's entry point shares: user errors as one line, shipped flagfiles, ``absl.app.run``.

* :func:`exits_on_user_error` wraps a binary's ``main``.  A *user error* — one of :data:`USER_ERRORS`:
  ``ValueError`` (a bad flag value, a malformed file), ``FileNotFoundError`` / ``NotADirectoryError`` /
  ``IsADirectoryError`` (a wrong path), ``FileExistsError`` (an output that exists, no ``--overwrite``),
  ``PermissionError`` — prints ONE line ``error: <message>`` on stderr and exits with status 1, no traceback;
  the library functions raise these with messages that name the file or flag.  With ``--verbosity=1`` the
  traceback is logged too; when absl logs to a file (``--log_dir`` with a log file in use) the line also goes
  there.  Any other exception is a bug and keeps its traceback.  ``app.UsageError`` (stray positional
  arguments) stays absl's: usage hint and status 1.
* :func:`resolve_flagfiles`: ``--flagfile=experiments/NAME.flags`` (or ``--flagfile=NAME.flags``) that names no
  file from the current directory is read from the flagfiles shipped with the package (the repository's
  ``experiments/`` for a source or editable install, ``<prefix>/share/rfbnet_tf/experiments`` for a regular
  one), so ``rfbnet-train --flagfile=experiments/synthetic.flags`` works from any directory.  Such a flagfile
  is expanded in place, as absl would, with its nested ``--flagfile=experiments/...`` lines read from the same
  place; the paths it sets (``--record_dir=data/...``, ``--model_dir=runs/...``) stay relative to the current
  directory.  A file that exists in the current directory always wins.
* :func:`run`: defines the binary's flags, resolves the flagfiles and calls ``absl.app.run(main)`` — what each
  binary's ``run()`` (its console-script entry point and its ``python -m`` path) does.  ``--help`` (``-?``,
  ``--helpshort``) prints :func:`help_text` on stdout and exits 0: the binary's docstring and its own flags in
  the binary's groups (train: model, data, optimisation, run), each with its default.  (absl's own short help
  lists the main module's flags — for a console script the generated wrapper, which has no docstring and defines
  none — and exits 1.)  ``--helpfull`` stays absl's: every module's flags, absl's logging flags included.

The console scripts of ``setup.py`` are listed in :data:`CONSOLE_SCRIPTS`.
"""

from __future__ import annotations

import functools
import os
import re
import sys

from absl import app, flags, logging

from rfbnet_tf.utils.files import WriteError

USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
               PermissionError, WriteError)
"""Exceptions reported as one ``error:`` line (exit status 1) instead of a traceback (``WriteError``: a write that
failed on a full or read-only disk, naming the file)."""

CONSOLE_SCRIPTS = {
    "rfbnet-prepare-data": "rfbnet_tf.prepare_data:run",
    "rfbnet-train": "rfbnet_tf.train:run",
    "rfbnet-evaluate": "rfbnet_tf.evaluate:run",
    "rfbnet-export": "rfbnet_tf.export:run",
    "rfbnet-predict": "rfbnet_tf.predict:run",
    "rfbnet-benchmark": "rfbnet_tf.benchmark:run",
    "rfbnet-study": "rfbnet_tf.study:run",
}
"""``script name: module:function`` of every binary (``setup.py``'s ``console_scripts`` must match)."""

EXPERIMENTS_DIRNAME = "experiments"
SHARE_DIR = os.path.join("share", "rfbnet_tf")
"""Where a regular (non-editable) install puts ``experiments/*.flags``, under ``sys.prefix``."""


def error_line(error: BaseException) -> str:
    """``error: <message>`` on one line (whitespace runs, newlines included, become one space)."""
    message = " ".join(str(error).split()) or type(error).__name__
    return f"error: {message}"


def report_user_error(error: BaseException):
    """Print :func:`error_line` to stderr; also log it when absl writes a log file; traceback at -v 1."""
    line = error_line(error)
    print(line, file=sys.stderr, flush=True)
    if not flags.FLAGS.is_parsed():
        return
    if logging.get_absl_handler().python_handler.stream not in (sys.stderr, sys.__stderr__):
        logging.error("%s", line)  # absl's stderrthreshold (default fatal) keeps it off stderr
    logging.debug("traceback of the error above", exc_info=(type(error), error, error.__traceback__))


INTERRUPTED_LINE = "interrupted (Ctrl-C): stopped; outputs are written beside and renamed into place, none is left " \
                   "half-written: rerun the same command"
"""What a binary prints on SIGINT (``train`` handles it itself: it saves the step in flight)."""


def exits_on_user_error(main):
    """Decorator of a binary's ``main``: :data:`USER_ERRORS` → one stderr line and ``sys.exit(1)``; Ctrl-C
    (``KeyboardInterrupt``, after the library's cleanup ran) → :data:`INTERRUPTED_LINE` and ``sys.exit(130)``."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as error:
            report_user_error(error)
            sys.exit(1)
        except KeyboardInterrupt:
            print(INTERRUPTED_LINE, file=sys.stderr, flush=True)
            sys.exit(130)

    return wrapped


def check_no_arguments(argv):
    """``app.UsageError`` for positional arguments after the program name (absl prints the usage hint)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")


def experiments_dirs() -> list[str]:
    """Directories searched for shipped flagfiles, in order."""
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.join(repository, EXPERIMENTS_DIRNAME),
            os.path.join(sys.prefix, SHARE_DIR, EXPERIMENTS_DIRNAME)]


def find_flagfile(name: str) -> str | None:
    """The shipped flagfile a ``--flagfile`` value means, or None (the value names a file here, or no shipped
    one: absl then reads it, or reports it missing, as usual)."""
    if not name or os.path.exists(name) or os.path.isabs(name):
        return None
    parts = os.path.normpath(name).split(os.sep)
    if parts[0] == EXPERIMENTS_DIRNAME:
        parts = parts[1:]
    if len(parts) != 1:
        return None
    for directory in experiments_dirs():
        candidate = os.path.join(directory, parts[0])
        if os.path.isfile(candidate):
            return candidate
    return None


def _expand_shipped(path: str) -> list[str]:
    """The flags of a shipped flagfile, nested ``--flagfile=experiments/...`` read next to it (absl reads
    nested names from the current directory, so read from the directory above ``experiments/``)."""
    cwd = os.getcwd()
    os.chdir(os.path.dirname(os.path.dirname(path)))
    try:
        return flags.FlagValues().read_flags_from_files(["", f"--flagfile={path}"], force_gnu=False)[1:]
    finally:
        os.chdir(cwd)


def resolve_flagfiles(argv) -> list[str]:
    """``argv`` with each ``--flagfile=NAME`` / ``--flagfile NAME`` that :func:`find_flagfile` resolves replaced
    by the shipped file's flags; everything else (and everything after ``--``) unchanged."""
    argv = list(argv)
    resolved, index = argv[:1], 1
    while index < len(argv):
        argument = argv[index]
        if argument == "--":
            resolved.extend(argv[index:])
            break
        name, used = None, 1
        if argument.startswith(("--flagfile=", "-flagfile=")):
            name = argument.split("=", 1)[1]
        elif argument in ("--flagfile", "-flagfile") and index + 1 < len(argv):
            name, used = argv[index + 1], 2
        path = find_flagfile(name) if name is not None else None
        resolved.extend(_expand_shipped(path) if path else argv[index:index + used])
        index += used
    return resolved


HELP_ARGUMENT = re.compile(r"--?(help|helpshort|\?)(=(true|t|1|yes|y))?", re.IGNORECASE)
"""The spellings of absl's ``--help`` / ``--helpshort`` (a boolean flag: ``-help``, ``--help=true``, ``-?``)."""
OTHER_GROUP = "other"
"""Heading of the binary's flags that its ``groups`` do not name."""


def wants_help(argv) -> bool:
    """Whether ``argv`` (program name first) asks for ``--help`` before any ``--``."""
    for argument in argv[1:]:
        if argument == "--":
            return False
        if HELP_ARGUMENT.fullmatch(argument):
            return True
    return False


def is_required(flag) -> bool:
    """Whether ``flag`` was defined with ``required=True`` (``flags.mark_flag_as_required``'s validator)."""
    return any(str(getattr(validator, "message", "")).endswith("must have a value other than None.")
               for validator in flag.validators)


def _default_text(flag):
    """``(default: ...)``; for a None default ``(required)``, or nothing when the help says it, or
    ``(default: unset)``."""
    if flag.default is not None:
        return f"(default: {flag.default_as_str})"
    if is_required(flag):
        return None if "required" in flag.help.lower() else "(required)"
    return None if "default" in flag.help.lower() else "(default: unset)"


def flag_help_lines(flag) -> list:
    """absl's layout of one flag: ``--name: help`` wrapped, then its default."""
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    lines = flags.text_wrap(f"{name}: {flag.help}", indent="    ", firstline_indent="  ").splitlines()
    default = _default_text(flag)
    return lines + ([f"    {default}"] if default else [])


def program_name(main) -> str:
    """``rfbnet-train`` for a console script, ``python -m rfbnet_tf.train`` for a module run."""
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if script.startswith("rfbnet-"):
        return script
    module = main.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else script
    return f"python -m {module.removesuffix('.__main__')}"


def help_text(program, doc, own_flags, groups=None) -> str:
    """The help of a binary: ``usage:``, its docstring, then ``own_flags`` (absl ``Flag`` objects, in definition
    order) under the headings of ``groups`` (``{heading: [flag name, ...]}``, in order; unnamed flags go under
    :data:`OTHER_GROUP`), ending with the absl-wide flags worth knowing."""
    by_name = {flag.name: flag for flag in own_flags}
    groups = {heading: list(names) for heading, names in (groups or {}).items()}
    unknown = sorted({name for names in groups.values() for name in names} - set(by_name))
    if unknown:
        raise KeyError(f"flag groups name flags the binary does not define: {unknown}")
    grouped = {name for names in groups.values() for name in names}
    rest = [name for name in by_name if name not in grouped]
    if rest:
        groups[OTHER_GROUP] = rest
    lines = [f"usage: {program} [flags]", "", (doc or "").strip(), ""]
    for heading, names in groups.items():
        lines.append(f"{heading}:")
        for name in names:
            lines.extend(flag_help_lines(by_name[name]))
        lines.append("")
    lines.append(flags.text_wrap("Also: --flagfile=FILE (flags from a file; experiments/NAME.flags works from any "
                                 "directory), --verbosity=1 (debug logs, tracebacks of user errors), --helpfull "
                                 "(every flag)."))
    return "\n".join(lines) + "\n"


def _defined_flags(flag_values) -> dict:
    """``{name: Flag}`` of every flag defined (a short name maps to its flag)."""
    return {flag_values[name].name: flag_values[name] for name in flag_values}


def run(main, define_flags, argv=None, groups=None):
    """Define the flags, resolve shipped flagfiles in ``argv`` (default ``sys.argv``), ``app.run(main)``;
    ``--help``: :func:`help_text` of ``main``'s module and the flags ``define_flags`` defined, in ``groups``."""
    before = set(_defined_flags(flags.FLAGS))
    define_flags()
    argv = resolve_flagfiles(sys.argv if argv is None else argv)
    if wants_help(argv):
        own = [flag for name, flag in _defined_flags(flags.FLAGS).items() if name not in before]
        doc = sys.modules[main.__module__].__doc__
        sys.stdout.write(help_text(program_name(main), doc, own, groups))
        sys.stdout.flush()
        sys.exit(0)
    app.run(main, argv=argv)
