"""The queries weak_match is calibrated on (`python -m scripts.calibrate_weak`) and tested with
(`tests.search.test_modes`), on the startups sample.

- REAL: what people type, each with a close answer in the sample: descriptions in other words,
  short topic words, startups' names;
- NONSENSE: what has no close answer: random letters, keyboard runs, emoji, numbers and
  punctuation, and text in languages and scripts the model was not trained on.

HELD_OUT_REAL and HELD_OUT_NONSENSE were written after the thresholds were chosen and never
tuned on: `scripts.calibrate_weak` reports the rule's errors on them apart.
"""

from __future__ import annotations

from scripts.eval_modes import MEANING

REAL = [q for q, _ in MEANING] + [
    # short topic words and phrases
    "food delivery", "vegan food", "fintech", "payments", "travel", "cheap flights", "real estate", "mortgage", "recruiting",
    "health care", "hospital software", "education", "online courses", "music", "video games", "fashion", "e-commerce",
    "wine", "pets", "dog food", "energy", "solar", "advertising", "marketing automation", "analytics", "big data", "crm",
    "social network", "mobile app", "restaurants", "gift cards", "furniture", "insurance", "biotech", "genome editing",
    "cloud hosting", "seo", "crowdfunding", "news", "consulting", "angel investors", "startups in chicago",
    # names, as people type them
    "NowBoarding", "GrubHub", "Threadless", "Packback", "StatHat", "Doggyloot", "Winestyr", "Raise", "dxcare", "Exchangery",
    "safercodes", "human practice", "style seek",
]

NONSENSE = [
    # random letters and keyboard runs
    "qwxzv", "xkqjz", "zzgrvbt", "pflumq", "jjjjjj", "vbnmq", "asdfgh", "qwertyuiop", "lkjhgfdsa", "zxcvbnm", "aaaaaa",
    "xq zv kp", "blorptastic wuggle", "fnord quux", "grbl zzt", "plonk wibble",
    # emoji, numbers, punctuation
    "🍕🚀", "🦄✨🌈", "😀😀😀", "🐙", "12345", "000 000", "3.14159", "???", "!!!", "--- ...", "@#$%",
    # languages and scripts the model does not know
    "外卖送餐", "人工智能", "機械学習のスタートアップ", "오늘 날씨", "อาหารเดลิเวอรี่", "توصيل الطعام", "доставка еды",
    "искусственный интеллект", "खाना पहुंचाना", "Ψηφιακό νόμισμα", "ბიზნესი", "משלוח אוכל",
]

HELD_OUT_REAL = [
    "parking spots", "golf", "beauty salon booking", "angel investing in the midwest", "lost and found", "second-hand furniture",
    "virtual reality", "gene therapy", "email newsletter", "textbooks", "job interviews", "water management", "coupons",
    "interior design", "feeding tube meals", "Tripnary", "Konekt", "Spotlite", "Pictarine", "KitchIn",
]

HELD_OUT_NONSENSE = [
    "zqxvjk", "hjklhjkl", "wvwvwv qq", "mrrp blat", "🌮🎸", "🤖🤖", "42 42 42", "%%%", "宇宙旅行", "ресторан рядом",
    "ข่าววันนี้", "गाड़ी", "Κρυπτογράφηση", "قهوة",
]
