"""Every size limit evalgate puts on its inputs, decided here and read everywhere (docs/reference.md, "Limits").

An input beyond a limit is bad input: one message naming the file (and line) and exit code 2, found before any
work is done — never a hang, a MemoryError or a traceback. The limits sit far above any real suite.
"""

from __future__ import annotations

MIB = 1024 * 1024

# files evalgate reads
MAX_DATA_FILE_BYTES = 1024 * MIB  # a dataset file, a results file, an event payload, any JSON file
MAX_TEXT_FILE_BYTES = 16 * MIB  # a config, a thresholds file, a template, a schema (YAML and Jinja2 text)
MAX_NESTING = 128  # levels of JSON arrays/objects or YAML sequences/mappings, the document's own included
# values a YAML file may hold once its aliases are expanded (an alias bomb has 10^9)
MAX_YAML_VALUES = 100_000
MAX_INTEGER_DIGITS = 308  # a longer integer is beyond a float's range (1.8e308), which every number must fit

# sizes a config may ask for
MAX_CONCURRENCY = 1024  # cases in flight at once (concurrency), threads of a sync python target
MAX_REPEATS = 1000  # runs of each case
MAX_TASKS = 100  # tasks of one suite (`tasks:`)
MIN_RESAMPLES, MAX_RESAMPLES = (
    100,
    1_000_000,
)  # bootstrap resamples (fewer than 100: no percentile to speak of)
MAX_TIMEOUT_S = 86_400  # seconds: a timeout longer than a day is a slip (milliseconds written for seconds)
MAX_ATTEMPTS = 100  # tries of one call to a model API
MAX_STREAM_LINE_BYTES = 16 * MIB  # one line of a model's streamed answer (an event's JSON)
MAX_RESPONSE_BYTES = 256 * MIB  # one answer of a model's API, its body decoded (a larger one is malformed)
MAX_RESPONSE_HEAD_BYTES = 64 * 1024  # its status line and headers

# the Action's artifacts (zip archives from other workflow runs)
MAX_ARCHIVE_BYTES = 512 * MIB  # downloaded
MAX_EXTRACTED_BYTES = 1024 * MIB  # unpacked, counted while decompressing
MAX_ARCHIVE_FILES = 2000
MAX_ARCHIVE_PATH_PARTS = 32  # folders (and the file) of one entry's path
MAX_ARCHIVE_PATH_CHARS = 1024

# slices (evalgate.slices): each is compared key by key and tested in the gate's family of rules
MAX_SLICES = 200  # slices of one suite, all `slices:` entries together
MAX_SLICE_VALUE_CHARS = 100  # characters of a sliced metadata value or a tag (a slice's name holds it)
