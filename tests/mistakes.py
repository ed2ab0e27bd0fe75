"""The catalogue of operator mistakes: what each gets (exit code, the one line on stderr).

One table feeds both tests/test_mistakes.py (runs every row as a real `mlflow-syncer` process) and
docs/WHAT_HAPPENS_IF.md (`python -m tests.mistakes > docs/WHAT_HAPPENS_IF.md`; a test checks the
page is what this prints). Placeholders in `args`, `config` and `line`:

- `{src}` / `{dst}`: SQLite MLflow stores (`sqlite:///...`), each with one experiment, one run and
  one artifact (source experiment `cat/alpha`, destination experiment `other/x`); `{src_db}` /
  `{dst_db}`: their files;
- `{tmp}`: the row's own empty folder (also the working directory); `{cfg}`: `{tmp}/c.yaml` (the
  row's `config` text, when it has one); `{state}`: `sqlite:///{tmp}/state.db`;
- `{dead}`: `http://127.0.0.1:<port>` where nothing listens (`{dead_port}`: the port).

A `line` ending in `...` is a prefix of the line; otherwise the line is exact (write `{{`, `}}` for
a brace). To add a row: append a `Mistake`, run the module to regenerate the page, run
tests/test_mistakes.py. Mistakes that need a real server (credentials refused, a URL that is no
MLflow API) are in tests/test_bad_input.py.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

PAIR = ("--source", "{src}", "--dest", "{dst}", "--state", "{state}")
MIGRATE = ("migrate", "--no-progress", *PAIR)
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
)


@dataclass(frozen=True)
class Mistake:
    """One operator mistake: the command line, what it gets."""

    what: str  # the mistake, in the operator's words
    args: tuple[str, ...]
    line: str  # the one line on stderr (a prefix when it ends in "...")
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    config: str | bytes | None = None  # written to {cfg}
    setup: str | None = None  # a named preparation of {tmp} (tests/test_mistakes.py SETUPS)


E = "mlflow-syncer: error: "
CONFIG = "invalid configuration: "
CONFIG_IN = "invalid configuration in {tmp}/c.yaml: "

MISTAKES: list[Mistake] = [
    # -- the command line itself
    Mistake(
        "no command",
        (),
        E + "the following arguments are required: command (see mlflow-syncer --help)",
    ),
    Mistake(
        "a command that does not exist",
        ("migrat",),
        E + "argument command: invalid choice: 'migrat' ...",
    ),
    Mistake("an unknown flag", ("migrate", "--bogus"), E + "unrecognized arguments: --bogus ..."),
    Mistake(
        "a flag of another command", ("migrate", "--once"), E + "unrecognized arguments: --once ..."
    ),
    Mistake(
        "a number flag given a word",
        ("migrate", "--workers", "x"),
        E
        + "migrate: argument --workers: invalid int value: 'x' (see mlflow-syncer migrate --help)",
    ),
    Mistake(
        "a choice flag given something else",
        ("migrate", "--deleted", "sometimes"),
        E + "migrate: argument --deleted: invalid choice: 'sometimes' ...",
    ),
    Mistake(
        "a log level that does not exist",
        ("diff", "--log-level", "loud"),
        E + "diff: argument --log-level: invalid choice: 'loud' ...",
    ),
    Mistake(
        "a report format that does not exist",
        ("diff", "--format", "pdf"),
        E + "diff: argument --format: invalid choice: 'pdf' ...",
    ),
    Mistake(
        "`--interval` and `--cron` together",
        ("mirror", "--interval", "5m", "--cron", "* * * * *"),
        E + "mirror: argument --cron: not allowed with argument --interval ...",
    ),
    Mistake(
        "a mirror interval that is no duration",
        ("mirror", "--interval", "soon"),
        E + "mirror: argument --interval: invalid duration 'soon': write for example 60s, 5m or 1h "
        "...",
    ),
    Mistake(
        "a mirror interval of zero",
        ("mirror", "--interval", "0s"),
        E + "mirror: argument --interval: invalid duration '0s' ...",
    ),
    Mistake(
        "`state` without its action",
        ("state",),
        E + "state: the following arguments are required: ...",
    ),
    # -- flags that contradict one another
    Mistake(
        "`--no-prompts` with `--prompts`",
        (*MIGRATE, "--no-prompts", "--prompts", "x"),
        E + CONFIG + "--no-prompts and --prompts contradict each other; give one of them",
    ),
    Mistake(
        "`--no-models` with `--models`",
        (*MIGRATE, "--no-models", "--models", "m"),
        E + CONFIG + "--no-models and --models contradict each other; give one of them",
    ),
    Mistake(
        "no source",
        ("migrate", "--dest", "{dst}"),
        E + "no source given: use --source or the 'source' option of the config file",
    ),
    Mistake(
        "no destination",
        ("diff", "--source", "{src}"),
        E + "no destination given: use --dest or the 'destination' option of the config file",
    ),
    Mistake(
        "`--workers 0`",
        (*MIGRATE, "--workers", "0"),
        E + CONFIG + "option 'workers': Input should be greater than or equal to 1",
    ),
    Mistake(
        "`--max-delete -1`",
        ("mirror", "--once", *PAIR, "--max-delete", "-1"),
        E + "invalid mirror option: max_delete: Input should be greater than or equal to 0",
    ),
    Mistake(
        "a status port above 65535",
        ("mirror", *PAIR, "--http-port", "70000"),
        E + "invalid mirror option: http_port: Input should be less than or equal to 65535",
    ),
    Mistake(
        "a cron expression that is not one",
        ("mirror", *PAIR, "--cron", "every day"),
        E + "invalid --cron expression 'every day': ...",
    ),
    # -- environment
    Mistake(
        "`MLFLOW_SYNCER_RETRY_ATTEMPTS=lots`",
        MIGRATE,
        E
        + CONFIG
        + "environment variable MLFLOW_SYNCER_RETRY_ATTEMPTS='lots' must be a whole number >= 1",
        env={"MLFLOW_SYNCER_RETRY_ATTEMPTS": "lots"},
    ),
    Mistake(
        "`MLFLOW_SYNCER_RETRY_ATTEMPTS=0`",
        MIGRATE,
        E
        + CONFIG
        + "environment variable MLFLOW_SYNCER_RETRY_ATTEMPTS='0' must be a whole number >= 1",
        env={"MLFLOW_SYNCER_RETRY_ATTEMPTS": "0"},
    ),
    Mistake(
        "a negative retry wait",
        MIGRATE,
        E + CONFIG + "environment variable MLFLOW_SYNCER_RETRY_MAX_WAIT='-5' must be a number >= 0",
        env={"MLFLOW_SYNCER_RETRY_MAX_WAIT": "-5"},
    ),
    Mistake(
        "MLflow's HTTP timeout not a number",
        MIGRATE,
        E
        + CONFIG
        + "environment variable MLFLOW_HTTP_REQUEST_TIMEOUT='30s' must be a whole number >= 1",
        env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "30s"},
    ),
    Mistake(
        "MLflow's HTTP backoff factor a fraction (MLflow reads a whole number)",
        MIGRATE,
        E
        + CONFIG
        + "environment variable MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR='0.1' "
        + "must be a whole number >= 0",
        env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.1"},
    ),
    Mistake(
        "an option from the environment of the wrong type",
        MIGRATE,
        E
        + CONFIG
        + "option 'workers': Input should be a valid integer, unable to parse string as an integer",
        env={"MLFLOW_SYNCER_WORKERS": "many"},
    ),
    Mistake(
        "several problems at once (env, flags)",
        (*MIGRATE, "--no-models", "--models", "m"),
        E + "invalid configuration (2 problems): --no-models and --models contradict each other; "
        "give one "
        "of them; environment variable MLFLOW_SYNCER_BLOB_CONCURRENCY='eight' must be a whole "
        "number >= 1",
        env={"MLFLOW_SYNCER_BLOB_CONCURRENCY": "eight"},
    ),
    # -- the config file
    Mistake(
        "`--config` names a folder",
        ("migrate", "--config", "{tmp}"),
        E + "config file {tmp} is a directory; give the path of a YAML file",
    ),
    Mistake(
        "`--config` names a missing file",
        ("migrate", "--config", "{tmp}/nope.yaml"),
        E + "config file {tmp}/nope.yaml does not exist",
    ),
    Mistake(
        "a config that is not UTF-8",
        ("migrate", "--config", "{cfg}"),
        E + "config file {tmp}/c.yaml is not UTF-8 text: byte 0xe9 at offset 26",
        config=b"source: {tracking_uri: caf\xe9}\n",
    ),
    Mistake(
        "a YAML alias bomb",
        ("migrate", "--config", "{cfg}"),
        E + "config file {tmp}/c.yaml expands to more than 100,000 values through YAML aliases; "
        "write the "
        "options out",
        config=BOMB,
    ),
    Mistake(
        "a huge config (a data file given by mistake)",
        ("migrate", "--config", "{cfg}"),
        E + "config file {tmp}/c.yaml is 2,000,000 bytes; a config holds at most 1,048,576 (is it "
        "the right "
        "file?)",
        config="#" * 1_999_999 + "\n",
    ),
    Mistake(
        "a config that is not YAML",
        ("migrate", "--config", "{cfg}"),
        E + "config file {tmp}/c.yaml is not valid YAML at line 2",
        config="source: [1, 2\n",
    ),
    Mistake(
        "a config that is a list",
        ("migrate", "--config", "{cfg}"),
        E + "config file {tmp}/c.yaml must hold a mapping of options",
        config="- source\n- dest\n",
    ),
    Mistake(
        "a misspelt option",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 1: unknown option 'destinaton' (did you mean 'destination'?)",
        config="destinaton:\n  tracking_uri: x\n",
    ),
    Mistake(
        "a misspelt nested option",
        ("migrate", "--config", "{cfg}"),
        E
        + CONFIG_IN
        + "line 2: unknown option 'source.tracking_url' (did you mean 'source.tracking_uri'?)",
        config="source:\n  tracking_url: x\n",
    ),
    Mistake(
        "a flag written in the file",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 1: unknown option 'dry_run' (--dry-run is a flag of `migrate`)",
        config="dry_run: true\n",
    ),
    Mistake(
        "a word for a number",
        ("migrate", "--config", "{cfg}"),
        E
        + CONFIG_IN
        + "line 1: option 'workers': Input should be a valid integer, unable to parse string "
        "as an integer",
        config="workers: many\n",
    ),
    Mistake(
        "too many workers",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 1: option 'workers': Input should be less than or equal to 64",
        config="workers: 1000\n",
    ),
    Mistake(
        "a value that is not one of the choices",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 1: option 'deleted': Input should be 'skip' or 'mirror'",
        config="deleted: sometimes\n",
    ),
    Mistake(
        "a bad regular expression in a name rule",
        ("migrate", "--config", "{cfg}"),
        E
        + CONFIG_IN
        + "line 2: option 'experiment_names.0.match': Value error, invalid regular expression "
        "'([a-' ...",
        config="experiment_names:\n  - match: '([a-'\n    replace: x\n",
    ),
    Mistake(
        "a name rule without its replacement",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 2: missing option 'experiment_names.0.replace'",
        config="experiment_names:\n  - match: a\n",
    ),
    Mistake(
        "`${VAR}` of a variable that is not set",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 1: environment variable NO_SUCH_VAR_X is not set",
        config="state: postgresql://u:${NO_SUCH_VAR_X}@127.0.0.1/db\n",
    ),
    Mistake(
        "a password written in the file",
        ("migrate", "--config", "{cfg}"),
        E
        + CONFIG_IN
        + "line 1: a password is written in the file; put it in an environment variable and "
        "write ${{VAR}} instead",
        config="state: postgresql://u:plaintext@127.0.0.1/db\n",
    ),
    Mistake(
        "a profile that does not exist",
        ("migrate", "--config", "{cfg}"),
        E
        + CONFIG_IN
        + "line 1: option 'source.profile': Input should be 'auto', 'mlflow', 'databricks' or "
        "'azureml'",
        config="source: {tracking_uri: x, profile: gcp}\n",
    ),
    Mistake(
        "a negative rate limit",
        ("migrate", "--config", "{cfg}"),
        E
        + CONFIG_IN
        + "line 1: option 'destination.rate_limits.search': Input should be greater than or "
        "equal to 0",
        config="destination: {tracking_uri: x, rate_limits: {search: -1}}\n",
    ),
    Mistake(
        "a mirror interval of zero in the file",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 2: option 'mirror.interval': Input should be greater than 0",
        config="mirror:\n  interval: 0\n",
    ),
    Mistake(
        "an engine mlflow-syncer does not have",
        ("migrate", "--config", "{cfg}"),
        E + CONFIG_IN + "line 2: option 'scale_out.engine': Input should be 'local' or 'ray'",
        config="scale_out:\n  engine: spark\n",
    ),
    Mistake(
        "start-time ranges too small to be worth a unit",
        (*MIGRATE, "--engine", "ray", "--range-runs", "5"),
        E + "invalid engine option: range_runs: Input should be greater than or equal to 10",
    ),
    Mistake(
        "a registry named twice",
        ("migrate", "--config", "{cfg}"),
        E
        + CONFIG_IN
        + "line 1: option 'source.registry_uri': Value error, a registry is named twice: ...",
        config="source: {tracking_uri: x, registry_uri: [databricks, databricks]}\n",
    ),
    Mistake(
        "several registries for a destination",
        ("migrate", *PAIR, "--dest-registry", "a,b"),
        E
        + "destination: registry_uri names 2 registries; only a Databricks source may read several "
        "...",
    ),
    # -- filters that match nothing
    Mistake(
        "`--experiments` matching nothing (migrate)",
        (*MIGRATE, "--experiments", "no-such-*"),
        E
        + "--experiments 'no-such-*' matches no experiment in the source ({src}); nothing was done",
    ),
    Mistake(
        "`--experiments` matching nothing (diff)",
        ("diff", *PAIR, "--experiments", "cat/alpha", "nope"),
        E + "--experiments 'nope' matches no experiment in the source ({src}); nothing was done",
    ),
    Mistake(
        "`--models` matching nothing",
        (*MIGRATE, "--models", "no-such-model"),
        E + "--models 'no-such-model' matches no model in the source ({src}); nothing was done",
    ),
    Mistake(
        "`--prompts` matching nothing",
        ("migrate", "--dry-run", *PAIR, "--prompts", "no-such-prompt"),
        E + "--prompts 'no-such-prompt' matches no prompt in the source ({src}); nothing was done",
    ),
    # -- endpoints
    Mistake(
        "a source port where nothing listens",
        ("migrate", "--source", "{dead}", "--dest", "{dst}"),
        E + "the source ({dead}) is unreachable: connection refused (nothing listens on port "
        "{dead_port}); check "
        "the URI and that the server runs",
    ),
    Mistake(
        "a destination port where nothing listens",
        ("diff", "--source", "{src}", "--dest", "{dead}/"),
        E + "the destination ({dead}) is unreachable: connection refused ...",
    ),
    Mistake(
        "a host name that does not resolve",
        ("migrate", "--source", "http://no-such-host.invalid:5000", "--dest", "{dst}"),
        E + "the source (http://no-such-host.invalid:5000) is unreachable: host name "
        "'no-such-host.invalid' does "
        "not resolve; check the URI",
    ),
    Mistake(
        "a closed port for a mirror",
        ("mirror", "--once", "--source", "{src}", "--dest", "{dead}"),
        E + "the destination ({dead}) is unreachable: connection refused ...",
    ),
    Mistake(
        "check-config with a closed port",
        ("check-config", "--source", "{src}", "--dest", "{dead}", "--state", "{state}"),
        E + "the destination ({dead}) is unreachable: connection refused ...",
    ),
    Mistake(
        "a URI scheme MLflow does not know",
        ("migrate", "--source", "{src}", "--dest", "nosuchscheme://x"),
        E + "cannot read the destination (nosuchscheme://x): Model registry functionality is "
        "unavailable; got "
        "unsupported URI 'nosuchscheme://x' ...",
    ),
    # -- the two ends are one store, or a source that is no store (docs/RELIABILITY.md)
    Mistake(
        "the source as the destination",
        ("migrate", "--source", "{src}", "--dest", "{src}", "--state", "{state}"),
        E + "source and destination are one store (sqlite:...",
    ),
    Mistake(
        "the source as the destination, spelled another way",
        (
            "diff",
            "--source",
            "{src}",
            "--dest",
            "sqlite:///../stores/./src.db",
            "--state",
            "{state}",
        ),
        E + "source and destination are one store (sqlite:...",
    ),
    Mistake(
        "the source's database as the destination's registry",
        ("migrate", *PAIR, "--dest-registry", "{src}"),
        E + "source and destination are one store (sqlite:...",
    ),
    Mistake(
        "a source SQLite file that does not exist",
        (
            "migrate",
            "--source",
            "sqlite:///{tmp}/no-such.db",
            "--dest",
            "{dst}",
            "--state",
            "{state}",
        ),
        E + "source sqlite:///{tmp}/no-such.db: no such file {tmp}/no-such.db; a source is never "
        "created: ...",
    ),
    Mistake(
        "a source folder that does not exist",
        ("migrate", "--source", "{tmp}/no-such-dir", "--dest", "{dst}", "--state", "{state}"),
        E
        + "source {tmp}/no-such-dir: no such folder {tmp}/no-such-dir; a source is never created: "
        "...",
    ),
    Mistake(
        "an empty folder as the source",
        ("migrate", "--source", "{tmp}/empty", "--dest", "{dst}", "--state", "{state}"),
        E
        + "source {tmp}/empty: {tmp}/empty is an empty folder, not an MLflow file store; check the "
        "path",
        setup="empty_dir",
    ),
    Mistake(
        "a text file as a SQLite source",
        (
            "migrate",
            "--source",
            "sqlite:///{tmp}/notes.txt",
            "--dest",
            "{dst}",
            "--state",
            "{state}",
        ),
        E + "source sqlite:///{tmp}/notes.txt: {tmp}/notes.txt is a file that is not a SQLite "
        "database; ...",
        setup="text_file",
    ),
    Mistake(
        "a SQLite file of another program as the source",
        (
            "migrate",
            "--source",
            "sqlite:///{tmp}/other.db",
            "--dest",
            "{dst}",
            "--state",
            "{state}",
        ),
        E
        + "source sqlite:///{tmp}/other.db is not an MLflow store (1 table, none of MLflow's); ...",
        setup="other_sqlite",
    ),
    Mistake(
        "the source's MLflow database as the state store",
        ("migrate", "--source", "{src}", "--dest", "{dst}", "--state", "{src}"),
        E + "the state store is the source's MLflow database (sqlite:...",
    ),
    Mistake(
        "the destination's MLflow database as the state store",
        ("migrate", "--source", "{src}", "--dest", "{dst}", "--state", "{dst}"),
        E + "the state store is the destination's MLflow database (sqlite:...",
    ),
    # -- state store
    Mistake(
        "a state store file that is no database",
        (*MIGRATE,),
        E + "state store ...",
        setup="state_garbage",
    ),
    Mistake(
        "a state store of a newer mlflow-syncer",
        (*MIGRATE,),
        E + "state store schema 0099 is newer than this mlflow-syncer understands "
        "(it knows up to ...",
        setup="state_newer",
    ),
    Mistake(
        "a PostgreSQL state store that refuses connections",
        (
            "migrate",
            "--source",
            "{src}",
            "--dest",
            "{dst}",
            "--state",
            "postgresql://u@127.0.0.1:1/x",
        ),
        E + "state store postgresql://u@127.0.0.1:1/x is unusable: ...",
    ),
    Mistake(
        "`status` where no mirror ran",
        ("status", "--state", "{state}"),
        E + "no state store at {state}: no mirror has run with it (use --config or --state)",
    ),
    # -- outputs
    Mistake(
        "a report into a folder that does not exist",
        ("diff", *PAIR, "--output", "{tmp}/no/dir/r.html"),
        E + "cannot write the report to {tmp}/no/dir/r.html: no such directory",
    ),
    Mistake(
        "a report path that is a folder",
        ("diff", *PAIR, "--output", "{tmp}"),
        E + "cannot write the report to {tmp}: it is a directory; give a file name",
    ),
    Mistake(
        "the id map into a folder that does not exist",
        ("state", "export", *PAIR, "--output", "{tmp}/no/dir/map.csv"),
        E + "cannot write the id map to {tmp}/no/dir/map.csv: no such directory",
    ),
]


INTRO = """# What happens if...

Every mistake below was made on purpose by `tests/test_mistakes.py`, as a real `mlflow-syncer`
process. Each one gets the exit code shown, exactly one line on stderr (shown; `...` where the rest
of the line depends on the machine), no traceback, and nothing is written to the source or the
destination. This page is generated from the test's table (`tests/mistakes.py`: `python -m
tests.mistakes > docs/WHAT_HAPPENS_IF.md`) and a test checks that it matches, so it cannot drift.
Exit codes: docs/EXIT_CODES.md.

In the command lines, `{src}` and `{dst}` are MLflow stores (SQLite), `{state}` a state store,
`{tmp}` a folder, `{cfg}` a config file in it holding the text shown, and `{dead}` an address where
nothing listens. `migrate` and `diff` exit 2 naming a filter that matches nothing; `mirror` instead
logs a warning each cycle and `mlflow-syncer status` shows it.

SIGINT (Ctrl-C) and SIGTERM stop every command at its next unit of work: one line (`mlflow-syncer:
stopped by SIGTERM; finished work is saved, run again to resume: mlflow-syncer ...`), exit 130
(SIGINT) or 143 (SIGTERM); the same command run again converges exactly (`tests/test_sigterm.py`).

| mistake | command line | exit | the line on stderr |
|---|---|---|---|
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _config_cell(m: Mistake) -> str:
    if m.config is None:
        return ""
    if isinstance(m.config, bytes):
        return (
            f"; `{{cfg}}` holds `{_cell(m.config.decode('latin-1').strip())}` (Latin-1, not UTF-8)"
        )
    if len(m.config) > 200:
        return (
            f"; `{{cfg}}` holds {len(m.config):,} bytes"
            if m.config.startswith("#")
            else "; `{cfg}` holds an alias bomb (each line 10 aliases of the line before)"
        )
    return f"; `{{cfg}}` holds `{_cell(m.config.strip())}`"


def render() -> str:
    """docs/WHAT_HAPPENS_IF.md, from MISTAKES."""
    rows = []
    for m in MISTAKES:
        env = " ".join(f"{k}={v}" for k, v in m.env.items())
        command = _cell(shlex.join(["mlflow-syncer", *m.args]))
        setup = f" ({m.setup.replace('_', ' ')})" if m.setup else ""
        rows.append(
            f"| {_cell(m.what)}{setup} | `{(env + ' ') if env else ''}{command}`{_config_cell(m)} "
            f"| "
            f"{m.code} | `{_cell(m.line.replace('{{', '{').replace('}}', '}'))}` |"
        )
    return INTRO + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
