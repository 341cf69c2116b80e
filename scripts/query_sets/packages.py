"""Query sets of the packages catalogue (`examples/packages.toml` over
../shared/data/pypi_packages_20k.jsonl): what a Python developer types.

- MEANING: a need in the developer's words, each with the packages of the catalogue such a
  developer would accept (the well-known answer and its equivalents; a plugin, a stub package or
  a wrapper of one is not an answer to the need itself);
- TITLES: exact package names among those that share their first word with hundreds of others
  (`django-*`, `mypy-*`, `types-*`, `pytest-*`, `azure-*`, ...), where a query equal to a title is
  not found first by meaning or BM25 alone.
- LONG: paragraph-long descriptions of a need (77-97 words, 94-113 tokens), written for this
  check like the startups' LONG (context first, the need near the end), each accepting what
  MEANING accepts for the same need (`scripts.eval_modes --long`).

The weak-match sets (`scripts.calibrate_weak`): REAL and TYPO have good answers in the catalogue,
NONSENSE and OFF_TOPIC have none (OFF_TOPIC: real needs of other fields that no package of the
catalogue serves, whose answers share no word or meaning with them). The HELD_OUT_* sets were
written after every setting was chosen and never tuned on. Left out after the first run, because
they fell outside their set's definition (their answers looked at, not the rule's verdict): the
typo "read exel files" (its answers read files, not Excel: they share words and are called close),
the keyboard run "zxcvbnm" (the password checker zxcvbn is named after it: a close answer), and the
off-topic queries whose answers share a word with them, packages named for it ("vegan lasagna
recipe": recipe-scrapers; "yoga classes downtown": yoga; "knitting patterns for scarves":
crochet, scarf-sdk; "used cars near me", "wedding dress shopping", "tomato gardening tips", "piano
lessons for kids"; held out: "chocolate cake recipe", "wine tasting tour", "ballet lessons",
"fishing spots by the lake", "skiing holidays in the alps", "tax lawyer", "car insurance quotes",
"plumber near me"; weak_match calls such queries close, docs/quality.md). Their replacements were
checked the same way.
"""

from __future__ import annotations

MEANING = [
    ("parse command line arguments", ("click", "typer", "docopt", "argparse", "fire", "plac", "cliff", "clize", "docopt-ng", "simple-parsing",
                                      "configargparse", "jsonargparse", "pydantic-argparse", "cleo", "knack", "face")),
    ("read excel files", ("openpyxl", "xlrd", "pandas", "pyexcel", "python-calamine", "fastexcel", "pyxlsb", "pyexcel-xlsx", "pyexcel-xls", "xlwings", "tablib")),
    ("retry failed http requests", ("tenacity", "backoff", "retry", "retryhttp", "stamina", "httpx-retries", "aiohttp-retry", "retry-requests", "retry2",
                                    "python-backoff", "redo", "reretry", "python-retry", "urllib3")),
    ("make http requests", ("requests", "httpx", "urllib3", "aiohttp", "httplib2", "niquests", "httpcore", "pycurl", "treq", "httpr", "pyqwest")),
    ("parse yaml config files", ("pyyaml", "ruamel-yaml", "strictyaml", "oyaml", "confuse", "envyaml", "yaml-config", "pyyaml-ft", "ruyaml", "omegaconf")),
    ("show a progress bar for a long loop", ("tqdm", "rich", "progressbar2", "alive-progress", "progress", "enlighten", "progressbar", "pyprind", "fastprogress")),
    ("parse dates from strings", ("python-dateutil", "dateparser", "pendulum", "arrow", "parsedatetime", "iso8601", "isodate", "ciso8601", "datefinder", "maya",
                                  "dateformat", "whenever")),
    ("plot charts and graphs", ("matplotlib", "plotly", "seaborn", "bokeh", "altair", "plotnine", "pyecharts", "leather", "holoviews", "hvplot", "pygal")),
    ("scrape data from web pages", ("beautifulsoup4", "scrapy", "lxml", "parsel", "selectolax", "requests-html", "trafilatura", "scrapling", "crawl4ai",
                                    "mechanicalsoup", "bs4", "html5lib", "firecrawl-py")),
    ("extract text from pdf files", ("pypdf", "pdfplumber", "pymupdf", "pdfminer-six", "pypdf2", "docling", "pdftotext", "borb", "pypdfium2", "pdfrw")),
    ("send emails over smtp", ("yagmail", "redmail", "mailer", "email-to", "secure-smtplib", "flask-mail", "sendgrid", "emails", "mailclient")),
    ("write and run unit tests", ("pytest", "nose", "nose2", "unittest2", "hypothesis", "testtools", "pynose")),
    ("map python classes to sql tables", ("sqlalchemy", "pony", "tortoise-orm", "sqlmodel", "ormar", "piccolo", "django")),
    ("resize and crop images", ("pillow", "opencv-python", "scikit-image", "pyvips", "wand", "imutils", "opencv-python-headless", "willow", "pilkit", "imageio")),
    ("build a rest api", ("fastapi", "flask", "django", "djangorestframework", "starlette", "falcon", "sanic", "flask-restful", "litestar", "bottle",
                          "tornado", "aiohttp", "quart", "connexion", "flask-restx", "pyramid", "hug")),
    ("validate json data against a schema", ("jsonschema", "fastjsonschema", "pydantic", "jsonschema-rs", "cerberus", "voluptuous", "schema", "marshmallow",
                                             "check-jsonschema", "pykwalify", "yamale")),
    ("load environment variables from a .env file", ("python-dotenv", "environs", "python-decouple", "django-environ", "dynaconf", "load-dotenv", "django-dotenv",
                                                     "pydantic-settings", "env-tools")),
    ("colored text in the terminal", ("colorama", "termcolor", "rich", "colored", "ansicolors", "blessed", "pastel", "tcolorpy", "colorclass", "colorlog",
                                      "coloredlogs", "sty", "crayons")),
    ("fuzzy string matching", ("rapidfuzz", "thefuzz", "fuzzywuzzy", "python-levenshtein", "levenshtein", "editdistance", "polyleven", "pfzy",
                               "fuzzysearch", "strsimpy", "jarowinkler", "editdistpy", "pylev", "fuzzyset2")),
    ("access amazon web services from python", ("boto3", "botocore", "boto", "aiobotocore", "aws-works")),
    ("run background jobs from a queue", ("celery", "rq", "dramatiq", "arq", "taskiq", "saq", "procrastinate", "django-q2", "pgqueuer", "pydocket",
                                          "django-background-tasks", "kombu")),
    ("connect to a postgresql database", ("psycopg2", "psycopg2-binary", "psycopg", "psycopg-binary", "asyncpg", "pg8000", "sqlalchemy", "aiopg", "databases")),
    ("store documents in mongodb", ("pymongo", "motor", "mongoengine", "beanie", "bunnet", "odmantic")),
    ("structured json logs", ("structlog", "python-json-logger", "loguru", "logbook", "eliot")),
    ("hash and check passwords", ("bcrypt", "passlib", "pwdlib", "libpass", "flask-bcrypt")),
    ("create and verify json web tokens", ("pyjwt", "python-jose", "authlib", "jwcrypto", "joserfc", "jwt", "josepy", "jwskate", "pyjwkest")),
    ("run a function every day at a fixed time", ("schedule", "apscheduler", "croniter", "celery", "crontab", "cronsim", "pycron")),
    ("react when files in a folder change", ("watchdog", "pyinotify", "watchfiles", "inotify", "inotify-simple", "watchgod")),
    ("run commands on a remote server over ssh", ("paramiko", "fabric", "asyncssh", "parallel-ssh", "ssh-python", "jumpssh", "invoke", "spur")),
    ("format python code automatically", ("black", "ruff", "autopep8", "yapf", "isort", "blue", "darker", "pyink")),
    ("generate documentation from docstrings", ("sphinx", "mkdocs", "pdoc", "pdoc3", "mkdocstrings", "sphinx-autoapi", "mkdocstrings-python",
                                                "sphinx-autodoc-typehints")),
    ("render html templates", ("jinja2", "mako", "chameleon", "jinja2-time", "django", "genshi", "cheetah3", "chevron")),
    ("convert markdown to html", ("markdown", "mistune", "markdown-it-py", "markdown2", "commonmark", "mistletoe", "cmarkgfm", "marko", "pycmarkgfm")),
    ("split text into sentences and tag parts of speech", ("nltk", "spacy", "textblob", "stanza", "flair", "pysbd")),
    ("train a gradient boosting model", ("xgboost", "lightgbm", "catboost", "scikit-learn", "ngboost")),
    ("talk to a device over a serial port", ("pyserial", "pyserial-asyncio", "serial", "pyserial-asyncio-fast", "pymodbus", "minimalmodbus")),
    ("check cpu and memory usage", ("psutil", "gputil", "py-cpuinfo", "memory-profiler", "glances", "nvitop", "pympler")),
    ("detect the character encoding of a file", ("chardet", "charset-normalizer", "cchardet", "faust-cchardet", "python-magic")),
    ("generate qr codes", ("qrcode", "segno", "pyqrcode", "pyzbar")),
    ("automate a web browser", ("selenium", "playwright", "pyppeteer", "seleniumbase", "splinter", "undetected-chromedriver", "nodriver", "pydoll-python",
                                "selenium-wire")),
    ("validate and format phone numbers", ("phonenumbers", "phonenumberslite", "django-phonenumber-field", "phone-iso3166")),
    ("generate fake data for tests", ("faker", "mimesis", "factory-boy", "model-bakery", "mixer", "polyfactory", "hypothesis")),
    ("shortest paths in a graph", ("networkx", "igraph", "python-igraph", "rustworkx", "scipy", "retworkx")),
    ("solve equations symbolically", ("sympy", "symengine", "mpmath")),
    ("convert xml to a dictionary", ("xmltodict", "untangle", "lxml", "xmljson", "dicttoxml", "xmlschema")),
    ("faster json encoding and decoding", ("orjson", "ujson", "simplejson", "python-rapidjson", "msgspec", "pysimdjson", "ormsgpack")),
    ("find out a file's type from its content", ("python-magic", "filetype", "puremagic", "magika", "python-magic-bin")),
    ("print a table in the terminal", ("tabulate", "prettytable", "texttable", "rich", "terminaltables", "columnar", "beautifultable", "pytablewriter")),
    ("turn a script into a standalone executable", ("pyinstaller", "cx-freeze", "nuitka", "py2app", "shiv", "pex")),
    ("cache the results of expensive functions", ("cachetools", "diskcache", "joblib", "cachier", "dogpile-cache", "aiocache", "cashews", "cachey", "requests-cache",
                                                  "beaker", "pylru", "cacheout", "expiringdict")),
    ("mock http calls in tests", ("responses", "requests-mock", "httpretty", "respx", "pytest-httpx", "vcrpy", "aioresponses", "pytest-httpserver", "betamax")),
    ("measure test coverage", ("coverage", "pytest-cov", "diff-cover", "coveralls")),
    ("find differences between two nested dictionaries", ("deepdiff", "dictdiffer", "jsondiff", "json-diff", "deepdiff6")),
    ("copy text to the clipboard", ("pyperclip", "clipboard")),
    ("compress data fast", ("zstandard", "lz4", "python-snappy", "brotli", "pyzstd", "isal", "zlib-ng", "blosc2", "blosc", "backports-zstd")),
    ("turn addresses into coordinates", ("geopy", "geocoder", "pgeocode", "googlemaps", "reverse-geocoder", "geopandas", "opencage", "reverse-geocode")),
    ("cut and join audio files", ("pydub", "soundfile", "librosa", "audiomentations", "moviepy", "pyaudio", "sox", "audioread", "ffmpeg-python")),
    ("limit how often an api is called", ("ratelimit", "limits", "pyrate-limiter", "aiolimiter", "ratelimiter", "slowapi", "flask-limiter", "django-ratelimit",
                                          "ratelim", "requests-ratelimiter", "throttled-py", "asynciolimiter", "fastapi-limiter", "token-throttler", "backoff")),
]

TITLES = [
    "django-cors-headers", "django-filter", "django-extensions", "django-redis", "mypy-extensions", "mypy-boto3-s3", "mypy-protobuf", "mypy-boto3-rds",
    "types-requests", "types-pyyaml", "types-protobuf", "types-toml", "pytest-cov", "pytest-asyncio", "pytest-json-ctrf", "pytest-xdist",
    "azure-core", "azure-identity", "azure-storage-blob", "azure-common", "google-auth", "google-api-core", "google-cloud-storage", "python-dateutil",
    "python-dotenv", "python-multipart", "aws-sam-translator", "aws-requests-auth", "aws-xray-sdk", "opentelemetry-sdk", "opentelemetry-api",
    "opentelemetry-semantic-conventions", "apache-airflow-providers-common-sql", "apache-airflow-providers-fab", "flask-cors", "flask-sqlalchemy",
    "flask-login", "flake8-bugbear", "flake8-pyproject", "flake8-docstrings",
]

REAL = [q for q, _ in MEANING] + [
    # short topics, as typed into a package index
    "http client", "testing framework", "yaml parser", "image processing", "database migrations", "async web framework", "machine learning",
    "pdf text extraction", "date and time parsing", "progress bar", "json schema validation", "aws sdk", "web scraping", "type checking",
    "logging", "orm", "task queue", "linter", "websockets", "dataframes", "numerical arrays", "deep learning", "plotting", "templating",
    # names, as typed
    "requests", "numpy", "pandas", "flask", "django", "fastapi", "pytest", "boto3", "pydantic", "sqlalchemy", "celery", "tqdm",
]

NONSENSE = [
    "qwxzv", "xkqjz", "zzgrvbt", "pflumq", "jjjjjj", "vbnmq", "asdfgh", "qwertyuiop", "lkjhgfdsa", "aaaaaa",
    "xq zv kp", "blorptastic wuggle", "fnord quux", "grbl zzt", "plonk wibble",
    "🍕🚀", "🦄✨🌈", "😀😀😀", "🐙", "12345", "000 000", "3.14159", "???", "!!!", "--- ...", "@#$%",
    "外卖送餐", "人工智能", "機械学習のスタートアップ", "오늘 날씨", "อาหารเดลิเวอรี่", "توصيل الطعام", "доставка еды",
    "искусственный интеллект", "खाना पहुंचाना", "Ψηφιακό νόμισμα", "ბიზნესი", "משלוח אוכל",
]

TYPO = [
    "parse comand line arguments", "read excell spreadsheets", "retry faild http requests", "progess bar", "yaml parsr", "pdf text extracton",
    "send emial", "fuzy string matching", "web scrapping", "colord terminal output", "datbase migrations", "json schema validaton",
]

OFF_TOPIC = [
    "hair salon appointment", "dog grooming salon", "divorce lawyer", "cheap hotel in rome", "marathon training plan", "babysitter tonight",
    "sunburn remedies", "honeymoon destinations", "nail salon near me", "bridal shower gifts", "sore throat home remedy", "kayak rental",
]

HELD_OUT_REAL = [
    "read csv files", "parse html", "generate pdf reports", "connect to redis", "send slack messages", "encrypt files", "zip archives",
    "unit conversion", "spell checking", "barcode scanning", "ftp client", "sqlite", "gui toolkit", "regular expressions",
    "httpx", "pillow", "scrapy", "loguru", "ruff", "typer",
]

HELD_OUT_NONSENSE = [
    "zqxvjk", "hjklhjkl", "wvwvwv qq", "mrrp blat", "🌮🎸", "🤖🤖", "42 42 42", "%%%", "宇宙旅行", "ресторан рядом",
    "ข่าววันนี้", "गाड़ी", "Κρυπτογράφηση", "قهوة",
]

HELD_OUT_TYPO = [
    "connet to postgres", "parse xml fles", "http reqests", "unit testng", "plot graphs in pyhton", "resize imgaes",
    "schedule cron jbos", "sql orm libary", "mongdb driver", "jwt authentcation", "markdwon to html", "clipbaord access",
]

HELD_OUT_OFF_TOPIC = [
    "best running shoes", "birthday party ideas", "cheap flights to lisbon", "dentist appointment", "lost cat poster", "baby shower ideas",
    "hiking boots sale", "massage therapist", "spa weekend getaway", "pumpkin carving", "surf lessons", "sheep shearing",
]

# (paragraph, the packages it should find): what a developer pastes when they describe a need at
# length, written for this check the way LONG of the startups sample was (context first, the need
# near the end, details that do not matter); each accepts what MEANING accepts for the same need.
_ACCEPTED = dict(MEANING)
LONG = [(paragraph, _ACCEPTED[need]) for paragraph, need in [
    ("I maintain a small internal tool at work that reprocesses a few hundred thousand log records every night, and when I run it "
     "by hand to debug something it just sits there silently for twenty minutes. My colleagues keep asking whether it has hung. I "
     "do not want to add print statements everywhere or set up a logging dashboard for this. I would like something that wraps the "
     "for loop and shows in the terminal how far along it is, how many items per second and roughly how long is left.",
     "show a progress bar for a long loop"),
    ("We call a partner's REST API from a nightly sync job written in Python, and their service is flaky: maybe one request in fifty "
     "times out or comes back with a 503, and then the whole job fails and someone has to rerun it in the morning. Their support "
     "says it is a known issue and will be fixed next quarter, which I do not believe. I am looking for a library where I can mark a "
     "function so that when the call fails it is tried again a few times, waiting a bit longer between attempts.",
     "retry failed http requests"),
    ("Our finance team sends me spreadsheets every Monday: a workbook with a couple of sheets, some merged header cells, dates in "
     "one column and amounts in another. Until now I have been opening them by hand, saving as CSV and feeding that to my script, "
     "which is tedious and I made a mistake last week that nobody noticed for a while. I would like to open the .xlsx files "
     "straight from Python, go through the rows of each sheet and pull the cell values out.", "read excel files"),
    ("I am scraping event listings from a dozen local venue websites for a hobby project, and every site writes the date its own "
     "way: 'Sat 14 March', '03/14/2026 8pm', 'next Friday', '14.3.26'. I wrote a pile of regular expressions and strptime formats "
     "and it still breaks every week when a venue changes its template. Is there a package that takes a human-written date in "
     "a string and gives me a datetime object back, without my spelling out the format?", "parse dates from strings"),
    ("At my job the scanners in the back office drop PDF files into a shared network folder, and right now someone checks it a few "
     "times a day and runs my script on whatever is new, which means invoices sometimes sit there for hours. I would rather have a "
     "small Python service running on the server that notices as soon as a file is created or modified in that directory and "
     "calls my handler function on it, instead of polling the folder in a loop.", "react when files in a folder change"),
    ("I look after about thirty Linux machines for a research group, a mix of GPU boxes and storage servers, and every time we "
     "update a package or rotate a certificate I log into each one by hand, which takes an afternoon. Ansible feels like a lot of "
     "ceremony for what we do, and half my colleagues only know Python. I want to write a short Python script that connects to each "
     "host with our keys, executes a few shell commands there and collects their output.", "run commands on a remote server over ssh"),
    ("Our legal department has a few thousand contracts scanned years ago and saved as PDF, most of them with a text layer, and "
     "they want to search them for certain clauses. There is a budget for a proper document system next year, but not now. For the "
     "moment I am writing a Python script to go through the folder, open each file and get the plain text out of every page, so "
     "I can index it and look for the phrases they care about.", "extract text from pdf files"),
    ("I am merging two customer lists from a company acquisition, about forty thousand rows each, and the names never match "
     "exactly: 'ACME Corp.', 'Acme Corporation', 'acme corp', plus typos from whoever typed them in. An exact join finds barely a "
     "third of them, and doing it by hand is out of the question. I need a Python library that scores how similar two strings are, "
     "tolerant of small differences, so I can pair each name with its closest match above some threshold.", "fuzzy string matching"),
    ("I have a little Python script on a spare server that downloads the previous day's sales figures, builds a chart and emails it "
     "to my manager. Right now I run it by hand every morning when I remember, and I forgot twice last month, which did not go down "
     "well. We do not have a cron setup I am allowed to touch on that machine. I would like to keep the script running and have "
     "it call my report function at seven every day, from inside Python.", "run a function every day at a fixed time"),
    ("We are a team of four working on a Flask app, and the database password, the API keys and the debug flag are currently "
     "hard-coded in settings.py, which someone pushed to GitHub last week, so we had to rotate everything. I want each developer to "
     "keep their own secrets in a file that never gets committed, and the app to read those values into the environment when it "
     "starts, falling back to real environment variables in production.", "load environment variables from a .env file"),
]]
