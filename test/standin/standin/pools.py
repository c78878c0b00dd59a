"""Content pools for the generator, including the 'awkward' cases.

With awkward=True the first records of a shop walk through every awkward
case deterministically (so small catalogs contain them all); later records
pick them at random with a modest probability.
"""
import re
import unicodedata

_LONG = ("Ultra long product title that keeps going — with ünïcödé, “quotes” and "
         "emoji 🚀 — to test column widths, truncation and byte vs character length "
         "handling in every layer of the sync pipeline; it continues further still "
         "so that it reaches the 255 character limit Shopify imposes on titles! ✓")
LONG_TITLE = (_LONG * 2)[:255]

AWK_TITLES = [
    "Café Crème — “Special” Edition",
    "T-shirt \"Vintage\" 'Classic'",
    "Back\\slash \\n not a newline \\",
    "Tab\there\tand there",
    "New\nline\r\ntitle",
    "😀 Emoji Hoodie 🚀 👩🏽‍💻 🇯🇵",
    "日本語の商品名 テスト",
    "中文产品名称 測試",
    "منتج عربي للاختبار",
    "עברית מוצר לבדיקה",
    "e\u0301le\u0300ve cafe\u0301 (combining accents)",
    "Zero\u200bwidth\u200dspace\ufeff",
    LONG_TITLE,
    "<b>HTML</b> &amp; ampersand & <script>alert(1)</script>",
    "Percent 100% _under_ %s {braces} $1 ?",
    "Robert'); DROP TABLE products;--",
    "  padded title  ",
    "Ünïcödé Ñame Ōkami",
    "x",
]
AWK_VENDORS = ["", "Ärzte & Söhne GmbH", "株式会社テスト", "O'Reilly \"Quotes\"",
               "Back\\slash Co", "شركة الاختبار", "Vendor, Inc.", "🦄 Unicorn Ltd"]
AWK_TYPES = ["", "Chaussures d'été", "电子产品", "T-Shirts", "Tab\tType", "Bücher"]
AWK_TAGS = ["", "sale, summer", "tag with spaces, another tag",
            "日本, 😀 emoji, Größe", "a\\b, \"quoted\", it's", "single"]
AWK_PRICES = ["19.99", "0.00", "5.00", "1234567.89", "0.01", "100.00", "99999.99"]
AWK_SKUS = [None, "", "DUP-SKU-1", "DUP-SKU-1", "SKU with spaces", "SKU-ÄÖÜ-日本",
            "sku\"quote", "sku\\back", "  trailing  "]
AWK_BARCODES = [None, "", "0012345678905", "4006381333931", "ABC-123"]
AWK_INVENTORY = [0, -5, 2000000000, 1, -1, 1000000]

ADJ = ["Classic", "Modern", "Vintage", "Premium", "Essential", "Urban", "Organic",
       "Deluxe", "Compact", "Rustic", "Sleek", "Heritage"]
MATERIAL = ["Cotton", "Leather", "Wool", "Linen", "Bamboo", "Steel", "Ceramic",
            "Canvas", "Denim", "Oak"]
NOUN = ["T-Shirt", "Backpack", "Mug", "Sneakers", "Jacket", "Lamp", "Wallet",
        "Scarf", "Notebook", "Water Bottle", "Candle", "Chair", "Hat", "Socks"]
VENDORS = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli",
           "Stark Goods", "Wayne Supply", "Soylent", "Tyrell"]
TYPES = ["Apparel", "Accessories", "Home", "Footwear", "Kitchen", "Outdoor",
         "Stationery", "Furniture"]
TAGS = ["new", "sale", "summer", "winter", "bestseller", "eco", "limited",
        "gift", "clearance", "featured"]
SIZES = ["XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL", "One Size",
         "Größe 42", "特大"]
SIZES_PLAIN = SIZES[:10] + ["6XL", "7XL"]
COLORS = ["Black", "White", "Red", "Blue", "Green", "Navy", "Grey", "Pink",
          "Olive", "Beige", "Crème brûlée", "Bleu \"ciel\""]
COLORS_PLAIN = COLORS[:10] + ["Teal", "Gold"]

PARAS = [
    "<p>Designed for everyday use, this product combines durable materials with a "
    "timeless look. Every piece is inspected by hand before it leaves our workshop, "
    "and we stand behind it with a two-year warranty.</p>",
    "<ul><li>Machine washable at 30&nbsp;°C</li><li>Made from 100% recycled fibres"
    "</li><li>Ships in plastic-free packaging</li><li>Fits true to size</li></ul>",
    "<p><strong>Care:</strong> wipe clean with a damp cloth. Do not bleach. "
    "Avoid direct sunlight for long periods to keep the colours vivid.</p>",
    "<table><tr><th>Size</th><th>Chest (cm)</th><th>Length (cm)</th></tr>"
    "<tr><td>S</td><td>96</td><td>70</td></tr><tr><td>M</td><td>102</td><td>72</td>"
    "</tr><tr><td>L</td><td>108</td><td>74</td></tr></table>",
    "<p>Unsere Produkte werden in Europa gefertigt – fair, nachhaltig und mit "
    "größter Sorgfalt. Qualität, die man spürt. 日本語の説明もあります。"
    "وصف المنتج باللغة العربية.</p>",
    "<p>It's the small thing with one very big idea. Customers say: "
    "&ldquo;I can't imagine my day without it!&rdquo; — and we agree. "
    "Available in several colours and sizes; see the chart below.</p>",
    "<p>Specifications: weight 1.2&nbsp;kg, dimensions 30&times;20&times;10&nbsp;cm, "
    "operating temperature −10&nbsp;°C to 40&nbsp;°C. Includes a quick-start guide "
    "and a \"getting started\" card with a QR code.</p>",
    "<div class=\"rte\"><h3>Why you'll love it</h3><p>Soft, breathable and built "
    "to last. Back\\slashes and tabs\tsurvive the round trip too.</p></div>",
]


def body_html(seed):
    n = 1 + seed % 8
    return "".join(PARAS[(seed >> (3 * k + 3)) % len(PARAS)] for k in range(n))


_SLUG_RE = re.compile(r"[^a-z0-9]+")


def slugify(title):
    t = unicodedata.normalize("NFKD", title)
    t = "".join(c for c in t if not unicodedata.combining(c))
    s = _SLUG_RE.sub("-", t.lower()).strip("-")[:200].strip("-")
    return s or "product"


def _pick(rng, idx, awkward, awk_pool, plain_fn, p_awk):
    if awkward and idx < len(awk_pool):
        return awk_pool[idx]
    if awkward and rng.random() < p_awk:
        return rng.choice(awk_pool)
    return plain_fn()


def title(rng, idx, awkward):
    return _pick(rng, idx, awkward, AWK_TITLES,
                 lambda: "%s %s %s" % (rng.choice(ADJ), rng.choice(MATERIAL),
                                       rng.choice(NOUN)), 0.1)


def vendor(rng, idx, awkward):
    return _pick(rng, idx, awkward, AWK_VENDORS, lambda: rng.choice(VENDORS), 0.1)


def product_type(rng, idx, awkward):
    return _pick(rng, idx, awkward, AWK_TYPES, lambda: rng.choice(TYPES), 0.1)


def tags(rng, idx, awkward):
    return _pick(rng, idx, awkward, AWK_TAGS,
                 lambda: ", ".join(sorted(rng.sample(TAGS, rng.randint(0, 4)))), 0.1)


def option_names(n_variants, idx, awkward):
    if n_variants == 1:
        return ("Title",)
    if n_variants <= 12:
        if awkward and idx % 5 == 4:
            return ("Größe",)
        return ("Size",) if idx % 2 else ("Color",)
    return ("Color", "Size", "Material")


def option_values(names, pos, n_variants, awkward):
    if len(names) == 1:
        if names[0] == "Title":
            return ("Default Title", None, None)
        pool = COLORS if names[0] == "Color" else SIZES
        if not awkward:
            pool = COLORS_PLAIN if names[0] == "Color" else SIZES_PLAIN
        v = pool[pos] if pos < len(pool) else "%s %d" % (names[0], pos + 1)
        return (v, None, None)
    colors = COLORS if awkward else COLORS_PLAIN
    sizes = SIZES if awkward else SIZES_PLAIN
    return (colors[pos % 10], sizes[(pos // 10) % 10], "Material %d" % (pos // 100 + 1))


def price(rng, vidx, awkward):
    if awkward and vidx < len(AWK_PRICES):
        return AWK_PRICES[vidx]
    if awkward and rng.random() < 0.1:
        return rng.choice(AWK_PRICES)
    return "%d.%02d" % (rng.randint(1, 500), rng.choice((0, 99, 50, 95, 0, 49)))


def compare_at(rng, price_s, vidx, awkward):
    r = rng.random()
    if awkward and r < 0.04:
        return "0.00"
    if r < 0.6:
        return None
    cents = int(round(float(price_s) * 125))
    return "%d.%02d" % (cents // 100, cents % 100)


def sku(rng, pid, pos, vidx, awkward):
    if awkward and vidx < len(AWK_SKUS):
        return AWK_SKUS[vidx]
    r = rng.random()
    if awkward:
        if r < 0.06:
            return None
        if r < 0.12:
            return ""
        if r < 0.18:
            return "DUP-SKU-%d" % rng.randint(1, 5)
    elif r < 0.02:
        return None
    return "SKU-%d-%d" % (pid, pos + 1)


def barcode(rng, vidx, awkward):
    if awkward and vidx < len(AWK_BARCODES):
        return AWK_BARCODES[vidx]
    r = rng.random()
    if awkward and r < 0.2:
        return None
    if awkward and r < 0.35:
        return ""
    if not awkward and r < 0.3:
        return None
    return "%013d" % rng.randint(0, 10 ** 13 - 1)


def inventory(rng, vidx, awkward):
    if awkward and vidx < len(AWK_INVENTORY):
        return AWK_INVENTORY[vidx]
    r = rng.random()
    if awkward:
        if r < 0.08:
            return rng.randint(-50, -1)
        if r < 0.2:
            return 0
        if r < 0.22:
            return rng.choice((1000000, 2000000000))
    elif r < 0.1:
        return 0
    return rng.randint(1, 500)
