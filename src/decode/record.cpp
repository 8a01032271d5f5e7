// Record decoder (include/fraudd/record.h): one JSON transaction -> one row of
// model features plus the raw text of the passthrough fields.
//
// What. The per-record hot path. No DOM: simdjson's On-Demand API walks the
// record's fields once, in document order. The schema compiles the dotted
// feature and passthrough paths into a trie (at most 8 levels); each level is
// a small open-addressing hash table keyed by a key's first 8 bytes (zero
// padded; longer keys also compare length and tail), so matching a key costs
// a few ALU operations, one multiply and usually one probe. Per field:
//   - the raw key is read straight from the padded record, 8 bytes at a time
//     (the padding makes over-reading safe); a key with escapes that does
//     not match raw is unescaped and looked up again;
//   - a feature leaf: fast_number on the value's text (the hot path; the
//     same float get_double() gives, see "numbers: the hot path"), else
//     get_double(); anything else goes through read_feature (numeric
//     strings, null, wrong types);
//   - a key with children: descended into if its value is an object (else
//     the features below count as missing);
//   - a passthrough leaf: its raw JSON text, validated, as a slice;
//   - a key not in the schema: its value is checked, not converted (strings
//     for escapes, numbers for grammar, containers with simdjson's DOM
//     parser), because On-Demand alone only skips it by structure and would
//     let some malformed records through.
// Afterwards the document must end, and features never seen take their
// default or reject the record.
//
// Guarantees. Never throws (simdjson's error-code API; allocation failures
// in the schema builder are caught). Every accepted record is valid JSON and
// every accepted feature a finite float32. Every rejection writes a reason
// sentence; the first problem in document order decides it. The outcome
// does not depend on the padding's content: when a padded record turns out
// not to be JSON, it is decoded again from a zero-padded copy (simdjson's
// error classification can look one byte past the record). No allocation per
// record once the decoder has seen a record of that size: the On-Demand
// parser is sized for max_bytes up front; the copy (unpadded input, invalid
// padded input) and the DOM validator (object/array values outside the
// schema's features, non-object records) grow to the largest record seen.
//
// Threads. A schema is immutable after fr_record_schema_new and may be
// shared by any number of threads; a decoder (parser, buffers, marks)
// belongs to one thread at a time.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <simdjson.h>

extern "C" {
#include "fraudd/err.h"
#include "fraudd/record.h"
}

static_assert(FR_JSON_PADDING == simdjson::SIMDJSON_PADDING, "FR_JSON_PADDING must equal SIMDJSON_PADDING");

namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;
using simdjson::SUCCESS;

constexpr size_t kMaxDepth = 8;      // dotted path segments
constexpr uint32_t kNone = UINT32_MAX;
constexpr uint32_t kEmpty = UINT32_MAX;   // Slot::len of an empty slot
// Slot::head of an empty slot: eight 0xff bytes, never valid UTF-8, and a key
// shorter than 8 bytes always has a zero top byte, so no key matches it.
constexpr uint64_t kEmptyHead = ~0ull;
constexpr int kShown = 40;           // characters of a bad value quoted in a reason

// ---- schema trie ------------------------------------------------------------

struct Level;

struct Entry {
    std::string key;                 // this path segment, unescaped
    std::string path;                // dotted path up to here, for reasons
    uint32_t feature = kNone;        // feature index if a feature path ends here
    uint32_t pass = kNone;           // passthrough index if a passthrough path ends here
    uint32_t id = 0;                 // index of this entry's mark in fr_decoder::seen
    std::unique_ptr<Level> child;    // next level if longer paths go through here
};

// One hash table slot; holds what the hot path needs, so a plain feature is
// read without touching its Entry.
struct Slot {
    uint64_t head = kEmptyHead;      // first 8 key bytes, zero padded, as load8 reads them
    uint32_t len = kEmpty;           // key length; kEmpty marks an empty slot
    uint32_t feature = kNone;        // feature index if the entry is only a feature leaf (hot path)
    uint32_t id = 0;                 // the entry's mark index (Entry::id)
    uint32_t entry = 0;              // index into Level::entries
};

struct Level {
    std::vector<Entry> entries;      // in insertion order
    std::vector<Slot> slots;         // open addressing, linear probing, power-of-two size
    uint64_t mul = 0;                // odd hash multiplier, picked per level for fewest probes
    uint32_t shift = 0;              // 64 - log2(slots.size())
};

inline uint64_t load8(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

// First 8 bytes of p[0..n), zero padded; reads only p[0..n).
inline uint64_t head_of(const char *p, size_t n) {
    char b[8] = {0};
    memcpy(b, p, n < 8 ? n : 8);
    return load8(b);
}

// The hash uses only the first 8 bytes: keys sharing them share a chain.
inline uint32_t hash_slot(uint64_t head, uint64_t mul, uint32_t shift) { return (uint32_t)((head * mul) >> shift); }

// Fills a level's table (load <= 1/2) using multiplier mul; returns the
// number of extra probe steps its keys need.
size_t fill_table(Level *l, uint64_t mul) {
    l->mul = mul;
    const uint32_t mask = (uint32_t)l->slots.size() - 1;
    std::fill(l->slots.begin(), l->slots.end(), Slot{});
    size_t cost = 0;
    for (size_t i = 0; i < l->entries.size(); i++) {
        const Entry &e = l->entries[i];
        uint64_t head = head_of(e.key.data(), e.key.size());
        uint32_t h = hash_slot(head, l->mul, l->shift);
        while (l->slots[h].len != kEmpty) h = (h + 1) & mask, cost++;
        Slot &s = l->slots[h];
        s.head = head;
        s.len = (uint32_t)e.key.size();
        s.feature = (e.pass == kNone && !e.child) ? e.feature : kNone;
        s.id = e.id;
        s.entry = (uint32_t)i;
    }
    return cost;
}

// Sizes each level's table and picks, from a few fixed odd constants, the
// multiplier with the fewest probe steps.
void build_table(Level *l) {
    static const uint64_t kMuls[] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                                     0xff51afd7ed558ccdull, 0xd6e8feb86659fd93ull, 0x94d049bb133111ebull};
    size_t cap = 4;
    uint32_t bits = 2;
    while (cap < 2 * l->entries.size()) cap <<= 1, bits++;
    l->shift = 64 - bits;
    l->slots.assign(cap, Slot{});
    size_t best_cost = SIZE_MAX;
    uint64_t best = kMuls[0];
    for (uint64_t mul : kMuls) {
        size_t cost = fill_table(l, mul);
        if (cost < best_cost) best_cost = cost, best = mul;
        if (cost == 0) break;
    }
    if (l->mul != best) fill_table(l, best);
    for (auto &e : l->entries)
        if (e.child) build_table(e.child.get());
}

// Bytes of w equal to c: 0x80 in the lowest such byte (bytes above it may be
// false positives, so only the lowest set bit is meaningful).
inline uint64_t bytes_equal(uint64_t w, char c) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t x = w ^ (ones * (uint8_t)c);
    return (x - ones) & ~x & highs;
}

// The hash table of one level, copied into locals for the walk.
//
// Keys are matched on their raw bytes in the padded record, read 8 at a time.
// A key shorter than 8 bytes is identified by its first 8 bytes zero padded
// ("head") alone: JSON keys cannot hold a raw NUL (simdjson rejects
// unescaped control characters) and schema keys are C strings, so the zero
// padding marks the length. Longer keys also compare length and tail.
struct Table {
    const Slot *slots;               // Level::slots
    const Entry *entries;            // Level::entries
    uint64_t mul;                    // Level::mul
    uint32_t shift;                  // Level::shift
    uint32_t mask;                   // slots - 1

    explicit Table(const Level *l)
        : slots(l->slots.data()), entries(l->entries.data()), mul(l->mul), shift(l->shift),
          mask((uint32_t)l->slots.size() - 1) {}

    // The slot of a key shorter than 8 bytes, given its head.
    inline const Slot *find_short(uint64_t head) const {
        for (uint32_t h = hash_slot(head, mul, shift);; h = (h + 1) & mask) {
            const Slot *s = &slots[h];
            if (s->head == head) return s;
            if (s->len == kEmpty) return nullptr;
        }
    }

    // The slot of key p[0..len) whose first 8 bytes (zero padded) are head.
    inline const Slot *find(uint64_t head, size_t len, const char *p) const {
        for (uint32_t h = hash_slot(head, mul, shift);; h = (h + 1) & mask) {
            const Slot *s = &slots[h];
            if (s->head == head && s->len == len &&
                (len <= 8 || memcmp(entries[s->entry].key.data() + 8, p + 8, len - 8) == 0))
                return s;
            if (s->len == kEmpty) return nullptr;
        }
    }
};

// Looks up a raw key (k: the bytes after its opening quote, inside the
// padded record). Sets *escaped if the key holds a backslash before its
// first '"' and raw bytes could not settle the match (then the caller
// unescapes it). plain: no schema key holds a backslash, so a raw match is
// exact and only a miss needs the escape check.
inline const Slot *find_raw(const Table &t, const char *k, bool plain, bool *escaped) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w = load8(k);
    uint64_t m = bytes_equal(w, '"');
    if (simdjson_likely(m != 0)) {                    // shorter than 8 bytes: the common case
        uint64_t below = ((m & (0 - m)) >> 7) - 1;    // the bytes before the first '"'
        uint64_t head = w & below;
        bool esc = (bytes_equal(w, '\\') & below) != 0;
        if (!plain && esc) {
            *escaped = true;
            return nullptr;
        }
        const Slot *s = t.find_short(head);
        *escaped = !s && esc;
        return s;
    }
    size_t len = 8;
    for (;; len += 8) {
        m = bytes_equal(load8(k + len), '"');
        if (m) break;
    }
    len += (unsigned)__builtin_ctzll(m) >> 3;
    bool esc = false;
    for (size_t i = 0; i < len && !esc; i += 8) {
        uint64_t b = bytes_equal(load8(k + i), '\\');
        esc = b && i + ((unsigned)__builtin_ctzll(b) >> 3) < len;
    }
    const Slot *s = (!plain && esc) ? nullptr : t.find(w, len, k);
    *escaped = !s && esc;
    return s;
#else
    const char *e = k;
    while (*e != '"') e++;
    size_t len = (size_t)(e - k);
    bool esc = memchr(k, '\\', len) != nullptr;
    const Slot *s = (!plain && esc) ? nullptr : t.find(head_of(k, len), len, k);
    *escaped = !s && esc;
    return s;
#endif
}

}  // namespace

struct fr_record_schema {
    Level root;                          // top-level keys
    std::vector<std::string> features;   // feature paths, in model order
    std::vector<std::string> pass;       // passthrough paths, in output order
    std::vector<float> defaults;         // per feature: value when missing or null
    std::vector<uint8_t> has_default;    // per feature: whether defaults[f] applies
    std::vector<uint32_t> feature_entry; // per feature: id of its leaf entry
    bool plain_keys = true;              // no key holds a backslash (raw-byte matches are exact)
    uint32_t n_entries = 0;              // trie entries (size of the decoder's marks)
};

struct fr_decoder {
    const fr_record_schema *s = nullptr; // shared, immutable schema
    od::parser parser;                   // this decoder's On-Demand parser (sized for max_bytes)
    simdjson::dom::parser validator;     // validates object/array passthrough and non-object records
    size_t max_bytes = 0;                // longer records are too_large
    char *copy = nullptr;                // padded copy of unpadded input
    size_t copy_cap = 0;                 // usable bytes of copy (FR_JSON_PADDING more are allocated)
    std::vector<uint32_t> seen;          // per trie entry: epoch of the decode that last saw its key
    uint32_t epoch = 0;                  // number of the current decode (0 is never current)
};

extern "C" const char *fr_reject_name(fr_reject r) {
    // C callers may pass any int; in C++ loading an enum outside its range is
    // undefined, so read the bits as an int.
    int v;
    static_assert(sizeof v == sizeof r, "fr_reject is int sized");
    memcpy(&v, &r, sizeof v);
    switch (v) {
    case FR_REJ_NONE: return "none";
    case FR_REJ_NOT_JSON: return "not_json";
    case FR_REJ_NOT_OBJECT: return "not_object";
    case FR_REJ_MISSING: return "missing_feature";
    case FR_REJ_NULL: return "null_feature";
    case FR_REJ_TYPE: return "bad_type";
    case FR_REJ_NONFINITE: return "non_finite";
    case FR_REJ_DUPLICATE: return "duplicate_key";
    case FR_REJ_TOO_LARGE: return "too_large";
    case FR_REJ_PREPROCESS: return "preprocess";
    }
    return "unknown";
}

// ---- schema -----------------------------------------------------------------

// Adds one dotted path (kind 0 = feature, 1 = passthrough) with index idx.
static int add_path(fr_record_schema *s, const char *path, uint32_t idx, int kind, char *err, size_t errlen) {
    const char *what = kind == 0 ? "feature" : "passthrough";
    if (!path) return fr_set_err(err, errlen, FR_EINVAL, "%s %u: no path given", what, (unsigned)idx);
    if (!*path) return fr_set_err(err, errlen, FR_EINVAL, "%s %u: empty path", what, (unsigned)idx);
    Level *l = &s->root;
    const char *p = path;
    for (size_t depth = 1;; depth++) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0)
            return fr_set_err(err, errlen, FR_EINVAL, "%s path \"%s\": empty segment (expected names between dots)",
                              what, path);
        if (depth > kMaxDepth)
            return fr_set_err(err, errlen, FR_EINVAL, "%s path \"%s\": more than %zu levels", what, path, kMaxDepth);
        Entry *e = nullptr;
        for (auto &x : l->entries)
            if (x.key.size() == n && memcmp(x.key.data(), p, n) == 0) e = &x;
        if (!e) {
            l->entries.emplace_back();
            e = &l->entries.back();
            e->key.assign(p, n);
            if (memchr(p, '\\', n)) s->plain_keys = false;
            e->path.assign(path, (size_t)(p + n - path));
            e->id = s->n_entries++;
        }
        if (!dot) {
            uint32_t &slot = kind == 0 ? e->feature : e->pass;
            if (slot != kNone)
                return fr_set_err(err, errlen, FR_EINVAL, "%s path \"%s\" is listed twice", what, path);
            if (e->child)
                return fr_set_err(err, errlen, FR_EINVAL,
                                  "%s path \"%s\" is a value but also leads to other paths below it", what, path);
            slot = idx;
            if (kind == 0) s->feature_entry[idx] = e->id;
            return 0;
        }
        if (e->feature != kNone || e->pass != kNone)
            return fr_set_err(err, errlen, FR_EINVAL, "%s path \"%s\" goes through \"%s\", which is itself a value",
                              what, path, e->path.c_str());
        if (!e->child) e->child.reset(new Level());
        l = e->child.get();
        p = dot + 1;
    }
}

extern "C" int fr_record_schema_new(const char *const *features, size_t n, const float *defaults,
                                    const uint8_t *has_default, const char *const *passthrough, size_t np,
                                    fr_record_schema **out, char *err, size_t errlen) {
    if (!out) return fr_set_err(err, errlen, FR_EINVAL, "record schema: no output pointer");
    *out = nullptr;
    if ((n && !features) || (np && !passthrough) || n >= kNone || np >= kNone)
        return fr_set_err(err, errlen, FR_EINVAL, "record schema: feature or passthrough list missing");
    fr_record_schema *s = new (std::nothrow) fr_record_schema();
    if (!s) return fr_set_err(err, errlen, FR_ENOMEM, "record schema: out of memory");
    int rc = 0;
    try {
        s->feature_entry.assign(n, 0);
        for (size_t i = 0; i < n && rc == 0; i++) {
            bool has = has_default && defaults && has_default[i];
            if (has && !std::isfinite(defaults[i]))
                rc = fr_set_err(err, errlen, FR_EINVAL, "feature \"%s\": default is not finite",
                                features[i] ? features[i] : "?");
            if (rc == 0) rc = add_path(s, features[i], (uint32_t)i, 0, err, errlen);
            if (rc == 0) {
                s->features.emplace_back(features[i]);
                s->defaults.push_back(has ? defaults[i] : 0.0f);
                s->has_default.push_back(has ? 1 : 0);
            }
        }
        for (size_t i = 0; i < np && rc == 0; i++) {
            rc = add_path(s, passthrough[i], (uint32_t)i, 1, err, errlen);
            if (rc == 0) s->pass.emplace_back(passthrough[i]);
        }
        if (rc == 0) build_table(&s->root);
    } catch (const std::bad_alloc &) {
        rc = fr_set_err(err, errlen, FR_ENOMEM, "record schema: out of memory");
    }
    if (rc) {
        delete s;
        return rc;
    }
    *out = s;
    return 0;
}

extern "C" void fr_record_schema_free(fr_record_schema *s) { delete s; }
extern "C" size_t fr_record_schema_n_features(const fr_record_schema *s) { return s->features.size(); }
extern "C" size_t fr_record_schema_n_passthrough(const fr_record_schema *s) { return s->pass.size(); }

// ---- decoder ----------------------------------------------------------------

extern "C" fr_decoder *fr_decoder_new(const fr_record_schema *s, size_t max_bytes) {
    if (!s) return nullptr;
    fr_decoder *d = new (std::nothrow) fr_decoder();
    if (!d) return nullptr;
    d->s = s;
    d->max_bytes = max_bytes;
    bool ok = true;
    try {
        d->seen.assign(s->n_entries, 0);
    } catch (const std::bad_alloc &) {
        ok = false;
    }
    // Room for the largest record up front, so decoding never grows the parser.
    if (ok && d->parser.allocate(max_bytes ? max_bytes : 1) != SUCCESS) ok = false;
    if (!ok) {
        delete d;
        return nullptr;
    }
    return d;
}

extern "C" void fr_decoder_free(fr_decoder *d) {
    if (!d) return;
    free(d->copy);
    delete d;
}

namespace {

struct Ctx {
    fr_decoder *d;                       // the decoder
    const char *base;                    // first byte of the record being parsed
    od::document *doc;                   // for error positions
    float *features;                     // out: one per schema feature
    fr_slice *pass;                      // out: one per passthrough path
    char *reason;                        // out: rejection sentence (may be NULL)
    size_t reasonlen;                    // bytes at reason
    size_t found;                        // features set so far
};

fr_reject say(Ctx &c, fr_reject r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Writes a reason sentence; returns r.
fr_reject say(Ctx &c, fr_reject r, const char *fmt, ...) {
    if (c.reason && c.reasonlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c.reason, c.reasonlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

// simdjson's message for e, without its final period.
std::string_view message(error_code e) {
    std::string_view m = simdjson::error_message(e);
    if (m.size() > 4 && m.back() == '.' && m.substr(m.size() - 4) != "etc.") m.remove_suffix(1);
    return m;
}

// A syntax error where the iterator stands: simdjson's message and, when
// known, the byte offset.
fr_reject json_error(Ctx &c, error_code e) {
    std::string_view m = message(e);
    const char *loc = nullptr;
    if (c.doc && c.doc->current_location().get(loc) == SUCCESS && loc && loc >= c.base)
        return say(c, FR_REJ_NOT_JSON, "not valid JSON: %.*s near byte %zu", (int)m.size(), m.data(),
                   (size_t)(loc - c.base));
    return say(c, FR_REJ_NOT_JSON, "not valid JSON: %.*s", (int)m.size(), m.data());
}

// A malformed true/false: simdjson reports it as a type mismatch.
error_code atom_error(error_code e, std::string_view tok) {
    if (e != simdjson::INCORRECT_TYPE || tok.empty()) return e;
    return tok[0] == 't' ? simdjson::T_ATOM_ERROR : tok[0] == 'f' ? simdjson::F_ATOM_ERROR : e;
}

// A syntax error in the value starting at `at`, of field `name` (or NULL).
fr_reject bad_value(Ctx &c, const char *name, error_code e, const char *at) {
    std::string_view m = message(e);
    if (name)
        return say(c, FR_REJ_NOT_JSON, "not valid JSON: field \"%s\": %.*s near byte %zu", name, (int)m.size(),
                   m.data(), (size_t)(at - c.base));
    return say(c, FR_REJ_NOT_JSON, "not valid JSON: %.*s near byte %zu", (int)m.size(), m.data(), (size_t)(at - c.base));
}

const char *type_name(od::json_type t) {
    switch (t) {
    case od::json_type::array: return "an array";
    case od::json_type::object: return "an object";
    case od::json_type::number: return "a number";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
    }
    return "something else";
}

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// Sign of the decimal exponent of a number text that from_chars found out of
// double range: > 0 overflow, <= 0 underflow. Text: -?digits[.digits][(e|E)[+-]digits]
// (from_chars' grammar also allows ".5" and "5.").
long decimal_order(std::string_view s) {
    size_t i = 0, n = s.size();
    if (i < n && s[i] == '-') i++;
    long pos = 0;  // order of the first non-zero digit relative to the point
    bool seen_nonzero = false, after_point = false;
    long before = 0, zeros_after = 0;
    for (; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') {
            after_point = true;
        } else if (!seen_nonzero && s[i] == '0') {
            if (after_point) zeros_after++;
        } else {
            seen_nonzero = true;
            if (!after_point) before++;
        }
    }
    pos = before > 0 ? before : -zeros_after;
    long ex = 0, sign = 1;
    if (i < n) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
        for (; i < n && ex < 100000000; i++) ex = ex * 10 + (s[i] - '0');
    }
    return pos + sign * ex;
}

enum class Num { ok, bad, nonfinite };

// A numeric string: exactly a decimal number as std::from_chars reads it
// ("12.5", "-3e2", ".5"); no spaces, no sign '+', no hex. "nan"/"inf" words
// are numbers but not finite. Out of double range: nonfinite (overflow) or
// +-0 (underflow).
Num parse_numeric_string(std::string_view s, double *x) {
    if (s.empty()) return Num::bad;
    auto r = std::from_chars(s.data(), s.data() + s.size(), *x);
    if (r.ec == std::errc::invalid_argument || r.ptr != s.data() + s.size()) return Num::bad;
    if (r.ec == std::errc::result_out_of_range) {
        if (decimal_order(s) > 0) return Num::nonfinite;
        *x = s[0] == '-' ? -0.0 : 0.0;
    }
    return std::isfinite(*x) ? Num::ok : Num::nonfinite;
}

// JSON number grammar (RFC 8259): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
inline bool is_json_number(std::string_view s) {
    size_t i = 0, n = s.size();
    auto digits = [&]() {
        size_t b = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        return i > b;
    };
    if (i < n && s[i] == '-') i++;
    if (i < n && s[i] == '0') i++;
    else if (!digits()) return false;
    if (i < n && s[i] == '.') {
        i++;
        if (!digits()) return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (!digits()) return false;
    }
    return i == n;
}

// ---- numbers: the hot path --------------------------------------------------
//
// A feature's value is the float nearest to the double nearest to the JSON
// number's decimal value: (float)get_double(), and simdjson's get_double is
// exact (correctly rounded for every input, like strtod). fast_number
// (and general_number, which it hands every other shape) produces that same
// float for the common numbers without simdjson's digit-at-a-time loop (the
// On-Demand code built here is simdjson's portable "fallback" kernel) and,
// mostly, without its division; it declines everything else, which then
// goes through get_double as before, so values, errors and their reasons do
// not change. Why the float is the same:
//
// 1. Clinger's fast path (Clinger 1990; simdjson and strtod take it too):
//    when the decimal digits form an integer w <= 2^53 and the decimal
//    exponent q is in [-22, 22], w and 10^|q| are exact doubles, so D =
//    w * 10^q (or w / 10^-q) is one IEEE operation on exact operands:
//    correctly rounded, the same double get_double returns. q >= 0 takes
//    this product.
// 2. q < 0 without the division: M = w * R, R = 10^q rounded to a double.
//    Two roundings: |M - x| <= x (2u + u^2), u = 2^-53, so M is within 2.01
//    units in its last place (ulp) of the exact value x = w / 10^-q. Here
//    1e-22 <= x <= 2^53 or x = 0: well inside the normal float range. The
//    double-then-float rounding (float)D differs from rounding x only when D
//    lands exactly on a midpoint between two floats, and x, D, M all round to
//    the same float unless a midpoint lies within 2.01 ulp of M. A midpoint
//    is a double whose 29 mantissa bits below float precision are 1000...0;
//    so when M's low 29 bits are more than 8 away from that pattern, (float)M
//    == (float)D, and otherwise (one value in 2^24) the division decides.
// Both need round-to-nearest and no excess precision (FLT_EVAL_METHOD 0:
// SSE2 on x86-64, every AArch64), asserted below. tests/unit/
// test_record_decode.c checks values against (float)strtod, and
// tests/fuzz/fuzz_record.c does on any number text the fuzzer finds.
#if !defined(__FLT_EVAL_METHOD__) || __FLT_EVAL_METHOD__ != 0
#error "fast_number needs double arithmetic without excess precision (FLT_EVAL_METHOD == 0)"
#endif
static_assert(std::numeric_limits<double>::is_iec559 && std::numeric_limits<float>::is_iec559,
              "fast_number needs IEEE 754 binary32/binary64");

// 10^0 .. 10^22: every one an exact double (10^22 = 2^22 * 5^22, 5^22 < 2^53).
constexpr double kPow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
// 10^-0 .. 10^-22, each rounded to the nearest double (the compiler reads
// decimal literals correctly rounded).
constexpr double kInvPow10[23] = {1e-0,  1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,  1e-8,  1e-9,  1e-10, 1e-11,
                                  1e-12, 1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};

// Whether the 8 bytes of w (first byte lowest, as load8 reads them) are all
// ASCII digits (simdjson's is_made_of_eight_digits_fast).
simdjson_inline bool eight_digits(uint64_t w) {
    return (((w & 0xF0F0F0F0F0F0F0F0ull) | (((w + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4)) ==
            0x3333333333333333ull);
}

// The value of eight ASCII digits, first byte lowest (SWAR, 3 multiplies).
simdjson_inline uint64_t eight_value(uint64_t w) {
    w = (w & 0x0F0F0F0F0F0F0F0Full) * 2561 >> 8;
    w = (w & 0x00FF00FF00FF00FFull) * 6553601 >> 16;
    return (w & 0x0000FFFF0000FFFFull) * 42949672960001ull >> 32;
}

simdjson_inline bool is_digit(char c) { return (unsigned char)(c - '0') <= 9; }

// (float) of the double nearest to w / 10^k, w <= 2^53, 1 <= k <= 22 (point 2 above).
simdjson_inline float float_of_quotient(uint64_t w, int k) {
    double m = (double)w * kInvPow10[k];
    uint64_t bits;
    memcpy(&bits, &m, sizeof bits);
    const uint64_t below = bits & ((1ull << 29) - 1), mid = 1ull << 28;
    if (simdjson_likely(below - (mid - 8) > 16)) return (float)m;  // |below - mid| > 8
    return (float)((double)w / kPow10[k]);
}

// Reads the JSON number text that starts at p and must end exactly at end
// (p..end lies inside a padded record: up to 8 bytes past end are
// readable). True: it is a JSON number (RFC 8259 grammar) with at most 19
// digits, their integer w <= 2^53, decimal exponent in [-22, 22]; *out is
// (float) of its nearest double. False: anything else, *out untouched.
simdjson_inline bool general_number(const char *p, const char *end, float *out) {
    const bool neg = *p == '-';
    p += neg;
    const char *first = p;        // first digit
    uint64_t w = 0;               // the digits as an integer (wraps beyond 19 digits; then refused)
    if (*p == '0') {
        p++;                      // a leading zero stands alone: "01" fails the end check below
    } else if (simdjson_likely(*p >= '1' && *p <= '9')) {
        while (is_digit(*p)) w = w * 10 + (uint64_t)(*p++ - '0');
    } else {
        return false;
    }
    size_t digits = (size_t)(p - first);
    long q = 0;                   // decimal exponent: value = w * 10^q
    if (*p == '.') {
        const char *frac = ++p;
        uint64_t eight = load8(p);
        if (eight_digits(eight)) w = w * 100000000 + eight_value(eight), p += 8;
        while (is_digit(*p)) w = w * 10 + (uint64_t)(*p++ - '0');
        if (p == frac) return false;  // "1." is not JSON
        q = -(long)(p - frac);
        digits += (size_t)(p - frac);
    }
    if ((*p | 0x20) == 'e') {
        p++;
        const bool eneg = *p == '-';
        if (*p == '-' || *p == '+') p++;
        const char *e0 = p;
        long e = 0;
        while (is_digit(*p) && p - e0 < 6) e = e * 10 + (*p++ - '0');
        if (p == e0 || is_digit(*p)) return false;  // no digits, or more than 6 (rare: let simdjson decide)
        q += eneg ? -e : e;
    }
    if (p != end || digits > 19 || w > (1ull << 53) || q < -22 || q > 22) return false;
    float f = q < 0 ? float_of_quotient(w, (int)-q) : (float)((double)w * kPow10[q]);
    *out = neg ? -f : f;
    return true;
}

// 0x80 in each of the low j bytes, j = 0..8.
constexpr uint64_t kLowMarks[9] = {0,
                                   0x80ull,
                                   0x8080ull,
                                   0x808080ull,
                                   0x80808080ull,
                                   0x8080808080ull,
                                   0x808080808080ull,
                                   0x80808080808080ull,
                                   0x8080808080808080ull};
// 10^0 .. 10^14 as integers.
constexpr uint64_t kPow10u[15] = {1ull,           10ull,           100ull,           1000ull,
                                  10000ull,       100000ull,       1000000ull,       10000000ull,
                                  100000000ull,   1000000000ull,   10000000000ull,   100000000000ull,
                                  1000000000000ull, 10000000000000ull, 100000000000000ull};

// 0x80 in each byte of w (first byte lowest) that is not an ASCII digit.
// x = byte ^ '0' is a digit's value 0..9; (x & 0x7f) + 0x76 sets the high
// bit exactly when that exceeds 9 and cannot carry into the next byte.
simdjson_inline uint64_t non_digits(uint64_t w) {
    const uint64_t x = w ^ 0x3030303030303030ull;
    return (((x & 0x7f7f7f7f7f7f7f7full) + 0x7676767676767676ull) | x) & 0x8080808080808080ull;
}

// The hot path: the shape nearly every feature value has, [-]D.F with one
// integer digit and 1..14 fraction digits (the token's length is known, so
// the fraction is two fixed 8-byte loads, checked and combined without a
// branch per digit or per shape). general_number's loops branch on every
// digit, on a leading "0" and on the fraction's length, and those branches
// follow the data: over varied records they mispredict a few times per
// number. bench_decode over 4,096 records cycled: 753-795 -> 522-526 ns per
// record (docs/BENCHMARKS.md (o)).
// Every other shape goes to general_number. Whatever this accepts, it reads
// to the same float as general_number: the same integer w (at most 15
// digits, so below 2^53) and exponent -f, and the same final step.
simdjson_inline bool fast_number(const char *p, const char *end, float *out) {
    const bool neg = *p == '-';
    const char *s = p + neg;
    const size_t len = (size_t)(end - s);
    const unsigned f = (unsigned)len - 2;  // fraction digits
    if (simdjson_unlikely(len - 3 > 13 || !is_digit(s[0]) || s[1] != '.')) return general_number(p, end, out);
    const unsigned fa = f < 8 ? f : 8, fb = f - fa;  // in the first and the second 8 bytes
    // s + 18 is at most 15 bytes past end: inside the padding (FR_JSON_PADDING, 64)
    const uint64_t a = load8(s + 2), b = load8(s + 10);
    if (simdjson_unlikely(((non_digits(a) & kLowMarks[fa]) | (non_digits(b) & kLowMarks[fb])) != 0))
        return general_number(p, end, out);
    // the digits moved to the top (the zero bytes shifted in are leading zeros)
    const uint64_t hi = eight_value(a << (64 - 8 * fa));
    const uint64_t lo = eight_value(b << ((64 - 8 * fb) & 63)) & (0 - (uint64_t)(fb != 0));
    const uint64_t w = (uint64_t)(s[0] - '0') * kPow10u[f] + hi * kPow10u[fb] + lo;
    const float m = float_of_quotient(w, (int)f);
    uint32_t bits;  // the sign without a branch: it follows the data too
    memcpy(&bits, &m, sizeof bits);
    bits ^= (uint32_t)neg << 31;
    memcpy(out, &bits, sizeof bits);
    return true;
}

// Reads feature f from a value the hot path could not: numeric strings,
// null (the default, if any), numbers out of range, wrong types, syntax
// errors. v must be unconsumed; on success it is consumed and c.features[f]
// is set.
fr_reject read_feature(Ctx &c, od::value &v, uint32_t f) {
    const fr_record_schema *s = c.d->s;
    const char *name = s->features[f].c_str();
    od::json_type t;
    error_code e = v.type().get(t);
    if (e) return json_error(c, e);
    double x = 0;
    switch (t) {
    case od::json_type::number: {
        if (v.get_double().get(x) == SUCCESS) break;
        // simdjson refuses numbers beyond double range: tell them from bad syntax
        std::string_view tok = trim_right(v.raw_json_token());
        if (is_json_number(tok)) {
            double y;
            auto r = std::from_chars(tok.data(), tok.data() + tok.size(), y);
            if (r.ec == std::errc::result_out_of_range && decimal_order(tok) > 0)
                return say(c, FR_REJ_NONFINITE, "feature \"%s\": %.*s%s is outside the float32 range", name,
                           (int)std::min(tok.size(), (size_t)kShown), tok.data(), tok.size() > kShown ? "..." : "");
        }
        return json_error(c, simdjson::NUMBER_ERROR);
    }
    case od::json_type::string: {
        std::string_view sv;
        if ((e = v.get_string().get(sv)) != SUCCESS) return json_error(c, e);
        int shown = (int)std::min(sv.size(), (size_t)kShown);
        const char *more = sv.size() > kShown ? "..." : "";
        switch (parse_numeric_string(sv, &x)) {
        case Num::ok: break;
        case Num::bad:
            return say(c, FR_REJ_TYPE, "feature \"%s\": expected a number or numeric string, got \"%.*s%s\"", name,
                       shown, sv.data(), more);
        case Num::nonfinite:
            return say(c, FR_REJ_NONFINITE, "feature \"%s\": \"%.*s%s\" is not a finite float32 number", name, shown,
                       sv.data(), more);
        }
        break;
    }
    case od::json_type::null: {
        bool isnull = false;
        if ((e = v.is_null().get(isnull)) != SUCCESS || !isnull) return json_error(c, e ? e : simdjson::N_ATOM_ERROR);
        if (!s->has_default[f]) return say(c, FR_REJ_NULL, "feature \"%s\" is null; expected a number", name);
        c.features[f] = s->defaults[f];
        return FR_REJ_NONE;
    }
    case od::json_type::boolean: {
        bool b;
        if ((e = v.get_bool().get(b)) != SUCCESS) return json_error(c, atom_error(e, trim_right(v.raw_json_token())));
        return say(c, FR_REJ_TYPE, "feature \"%s\": expected a number or numeric string, got %s", name,
                   b ? "true" : "false");
    }
    default:
        return say(c, FR_REJ_TYPE, "feature \"%s\": expected a number or numeric string, got %s", name, type_name(t));
    }
    float fl = (float)x;  // IEEE: out of float range becomes +-inf
    if (!std::isfinite(fl)) return say(c, FR_REJ_NONFINITE, "feature \"%s\": %g is outside the float32 range", name, x);
    c.features[f] = fl;
    return FR_REJ_NONE;
}

// Whether the structural character after a scalar's token (its extent runs
// to the next one) ends an object field. A scalar left unconsumed is skipped
// by On-Demand, which does not check what follows it ({"k":"a":1} would
// pass), so this is checked here. Inside an object that passed simdjson's
// up-front checks a closing '}' follows every scalar, so the byte is in the
// record.
simdjson_inline bool ends_field(std::string_view tok) {
    char next = tok.data()[tok.size()];
    return next == ',' || next == '}';
}

// Fast check of a value the schema does not name: true if it is a string
// without escapes, a well-formed number or exactly true, false or null
// (then skipping it is enough; stage 1 checked UTF-8 and control
// characters). Anything else goes through read_raw.
simdjson_inline bool plain_scalar(od::value v) {
    std::string_view tok = v.raw_json_token();
    char c0 = tok.empty() ? 0 : tok[0];
    if (!ends_field(tok)) return false;
    if (c0 == '"') return memchr(tok.data(), '\\', tok.size()) == nullptr;
    if (c0 == '-' || (c0 >= '0' && c0 <= '9')) return is_json_number(trim_right(tok));
    if (c0 == 't' || c0 == 'f' || c0 == 'n') {
        std::string_view atom = trim_right(tok);
        return atom == "true" || atom == "false" || atom == "null";
    }
    return false;
}

// A value that is not a feature: a passthrough field, or a field the schema
// does not name. Reads it whole and checks that it is valid JSON (On-Demand
// alone would only skip it by structure), so every accepted record is valid
// JSON and passthrough text can be embedded in result lines as is. Sets *out
// to its raw text without surrounding whitespace. name: the field's path for
// reasons, or NULL.
fr_reject read_raw(Ctx &c, od::value &v, const char *name, fr_slice *out) {
    od::json_type t;
    error_code e = v.type().get(t);
    if (e) return json_error(c, e);
    std::string_view raw;
    if (t == od::json_type::object || t == od::json_type::array) {
        if (t == od::json_type::object) {
            od::object o;
            if ((e = v.get_object().get(o)) != SUCCESS || (e = o.raw_json().get(raw)) != SUCCESS) return json_error(c, e);
        } else {
            od::array a;
            if ((e = v.get_array().get(a)) != SUCCESS || (e = a.raw_json().get(raw)) != SUCCESS) return json_error(c, e);
        }
        raw = trim_right(raw);
        simdjson::dom::element el;
        // raw lies inside the padded record, so FR_JSON_PADDING bytes after it are readable
        if ((e = c.d->validator.parse(raw.data(), raw.size(), false).get(el)) != SUCCESS)
            return bad_value(c, name, e, raw.data());
    } else {
        std::string_view tok = v.raw_json_token();  // a scalar's token is the whole value
        raw = trim_right(tok);
        if (!ends_field(tok)) return bad_value(c, name, simdjson::TAPE_ERROR, tok.data() + tok.size());
        switch (t) {
        case od::json_type::string: {
            // stage 1 checked UTF-8 and control characters; escapes are left,
            // checked by unescaping (skipped when there are none)
            std::string_view sv;
            if (memchr(raw.data(), '\\', raw.size()) && (e = v.get_string().get(sv)) != SUCCESS)
                return bad_value(c, name, e, raw.data());
            break;
        }
        case od::json_type::number:
            if (!is_json_number(raw)) return bad_value(c, name, simdjson::NUMBER_ERROR, raw.data());
            break;
        case od::json_type::boolean: {
            bool b;
            if ((e = v.get_bool().get(b)) != SUCCESS) return bad_value(c, name, atom_error(e, raw), raw.data());
            break;
        }
        default: {  // null
            bool isnull = false;
            if ((e = v.is_null().get(isnull)) != SUCCESS || !isnull)
                return bad_value(c, name, e ? e : simdjson::N_ATOM_ERROR, raw.data());
            break;
        }
        }
    }
    *out = fr_slice{raw.data(), raw.size()};
    return FR_REJ_NONE;
}

// A feature that is also a passthrough field: the raw text, then the number.
fr_reject read_both(Ctx &c, od::value &v, const Entry &en) {
    const fr_record_schema *s = c.d->s;
    od::json_type t;
    error_code e = v.type().get(t);
    if (e) return json_error(c, e);
    if (t == od::json_type::object || t == od::json_type::array)
        return say(c, FR_REJ_TYPE, "feature \"%s\": expected a number or numeric string, got %s",
                   s->features[en.feature].c_str(), type_name(t));
    // scalars: the token is the whole value; reading it validates it
    std::string_view raw = trim_right(v.raw_json_token());
    fr_reject r = read_feature(c, v, en.feature);
    if (r != FR_REJ_NONE) return r;
    if (c.pass) c.pass[en.pass] = fr_slice{raw.data(), raw.size()};
    return FR_REJ_NONE;
}

// Walks one object's fields against one trie level.
fr_reject walk(Ctx &c, od::object obj, const Level *level) {
    fr_decoder *d = c.d;
    const fr_record_schema *s = d->s;
    const Table table(level);
    const bool plain = s->plain_keys;
    const uint32_t epoch = d->epoch;
    uint32_t *seen = d->seen.data();
    float *features = c.features;
    for (auto field : obj) {  // simdjson_result<field>, read in place: copies cost store-forwarding stalls
        error_code e = field.error();
        if (simdjson_unlikely(e != SUCCESS)) return json_error(c, e);
        // Match the raw key bytes; they equal the key unless it has escapes.
        bool escaped;
        const Slot *sl = find_raw(table, field.value_unsafe().key().raw(), plain, &escaped);
        if (simdjson_unlikely(escaped)) {  // unescape into the parser's string buffer
            std::string_view k;
            if ((e = field.unescaped_key().get(k)) != SUCCESS) return json_error(c, e);
            sl = table.find(head_of(k.data(), k.size()), k.size(), k.data());
        }
        if (!sl) {  // not wanted: read only to check it is valid JSON
            if (simdjson_likely(plain_scalar(field.value().value_unsafe()))) continue;
            od::value v = field.value().value_unsafe();  // a copy in memory only on this rare path
            fr_slice ignored;
            fr_reject r = read_raw(c, v, nullptr, &ignored);
            if (r != FR_REJ_NONE) return r;
            continue;
        }
        if (simdjson_unlikely(seen[sl->id] == epoch))
            return say(c, FR_REJ_DUPLICATE, "key \"%s\" appears twice", table.entries[sl->entry].path.c_str());
        seen[sl->id] = epoch;
        const uint32_t f = sl->feature;
        if (simdjson_likely(f != kNone)) {
            // hot path: a feature leaf holding a plain JSON number, read by
            // fast_number from its token and left for the iterator to skip
            // (as plain_scalar values are, hence the same ends_field check),
            // else by get_double (which consumes it)
            std::string_view tok = field.value().value_unsafe().raw_json_token();
            float fast;
            if (simdjson_likely(ends_field(tok) && fast_number(tok.data(), tok.data() + trim_right(tok).size(), &fast))) {
                features[f] = fast;  // finite: |value| <= 2^53 * 10^22 < FLT_MAX
                c.found++;
                continue;
            }
            double x;
            if (simdjson_likely(field.value().get_double().get(x) == SUCCESS)) {
                float fl = (float)x;  // IEEE: beyond float range becomes +-inf
                if (simdjson_unlikely(!std::isfinite(fl)))
                    return say(c, FR_REJ_NONFINITE, "feature \"%s\": %g is outside the float32 range",
                               s->features[f].c_str(), x);
                features[f] = fl;
                c.found++;
                continue;
            }
            od::value v = field.value().value_unsafe();
            fr_reject r = read_feature(c, v, f);
            if (r != FR_REJ_NONE) return r;
            c.found++;
            continue;
        }
        const Entry &en = table.entries[sl->entry];
        od::value v = field.value().value_unsafe();
        if (en.child) {
            od::object sub;
            e = v.get_object().get(sub);
            if (e == simdjson::INCORRECT_TYPE) {  // not an object: the features below count as missing
                fr_slice ignored;
                fr_reject r = read_raw(c, v, nullptr, &ignored);
                if (r != FR_REJ_NONE) return r;
                continue;
            }
            if (e) return json_error(c, e);
            fr_reject r = walk(c, sub, en.child.get());
            if (r != FR_REJ_NONE) return r;
            continue;
        }
        fr_slice ignored;
        fr_reject r = en.feature != kNone ? read_both(c, v, en)
                                          : read_raw(c, v, s->pass[en.pass].c_str(), c.pass ? &c.pass[en.pass] : &ignored);
        if (r != FR_REJ_NONE) return r;
        if (en.feature != kNone) c.found++;
    }
    return FR_REJ_NONE;
}

// A record that is not an object: valid JSON of another type, or not JSON.
fr_reject not_an_object(Ctx &c, const char *buf, size_t len) {
    simdjson::dom::element el;
    error_code e = c.d->validator.parse(buf, len, false).get(el);
    if (e) {
        std::string_view m = message(e);
        return say(c, FR_REJ_NOT_JSON, "not valid JSON: %.*s", (int)m.size(), m.data());
    }
    const char *got = "something else";
    switch (el.type()) {
    case simdjson::dom::element_type::ARRAY: got = "an array"; break;
    case simdjson::dom::element_type::OBJECT: got = "an object"; break;  // not reached
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: got = "a number"; break;
    case simdjson::dom::element_type::STRING: got = "a string"; break;
    case simdjson::dom::element_type::BOOL: got = "a boolean"; break;
    case simdjson::dom::element_type::NULL_VALUE: got = "null"; break;
    }
    return say(c, FR_REJ_NOT_OBJECT, "expected a JSON object, got %s", got);
}

// Makes buf[0..len) padded: copies it into the decoder's buffer, grown
// geometrically up to max_bytes. Returns the copy, or NULL if out of memory.
const char *padded_copy(fr_decoder *d, const char *buf, size_t len) {
    if (len > d->copy_cap || !d->copy) {
        size_t cap = d->copy_cap * 2;
        if (cap > d->max_bytes) cap = d->max_bytes;
        if (cap < len) cap = len;
        if (cap < 256) cap = 256;
        char *p = (char *)malloc(cap + simdjson::SIMDJSON_PADDING);
        if (!p) return nullptr;
        free(d->copy);
        d->copy = p;
        d->copy_cap = cap;
    }
    if (len) memcpy(d->copy, buf, len);
    memset(d->copy + len, 0, simdjson::SIMDJSON_PADDING);
    return d->copy;
}

fr_reject decode(Ctx &c, const char *buf, size_t len) {
    fr_decoder *d = c.d;
    const fr_record_schema *s = d->s;
    od::document doc;
    error_code e = d->parser.iterate(buf, len, len + simdjson::SIMDJSON_PADDING).get(doc);
    if (e) return json_error(c, e);  // stage 1: no position yet
    c.doc = &doc;
    od::object obj;
    e = doc.get_object().get(obj);
    if (e == simdjson::INCORRECT_TYPE) return not_an_object(c, buf, len);
    if (e == simdjson::INCOMPLETE_ARRAY_OR_OBJECT) {  // simdjson checks the record's end up front
        size_t end = len;
        while (end > 0 && (buf[end - 1] == ' ' || buf[end - 1] == '\t' || buf[end - 1] == '\n' || buf[end - 1] == '\r'))
            end--;
        if (end > 0 && buf[end - 1] == '}')  // simdjson found the brackets unbalanced
            return say(c, FR_REJ_NOT_JSON, "not valid JSON: braces and brackets do not balance");
        return say(c, FR_REJ_NOT_JSON,
                   "not valid JSON: the record does not end with the object's closing brace (truncated, or "
                   "content after the object) near byte %zu",
                   end ? end - 1 : 0);
    }
    if (e) return json_error(c, e);
    fr_reject r = walk(c, obj, &s->root);
    if (r != FR_REJ_NONE) return r;
    const char *rest = nullptr;  // a location after the object: something follows it
    if (doc.current_location().get(rest) == SUCCESS)
        return say(c, FR_REJ_NOT_JSON, "not valid JSON: content after the object near byte %zu", (size_t)(rest - buf));
    if (c.found == s->features.size()) return FR_REJ_NONE;
    for (size_t f = 0; f < s->features.size(); f++) {
        if (d->seen[s->feature_entry[f]] == d->epoch) continue;
        if (!s->has_default[f])
            return say(c, FR_REJ_MISSING, "feature \"%s\" is missing; expected a number", s->features[f].c_str());
        c.features[f] = s->defaults[f];
    }
    return FR_REJ_NONE;
}

// One decode of buf (padded) with fresh marks.
fr_reject attempt(Ctx &c, const char *buf, size_t len) {
    fr_decoder *d = c.d;
    if (c.reason && c.reasonlen) c.reason[0] = 0;
    c.base = buf;
    c.doc = nullptr;
    c.found = 0;
    if (++d->epoch == 0) {  // wrapped: forget every mark
        std::fill(d->seen.begin(), d->seen.end(), 0);
        d->epoch = 1;
    }
    return decode(c, buf, len);
}

}  // namespace

extern "C" fr_reject fr_decoder_decode(fr_decoder *d, const char *buf, size_t len, int padded, float *features,
                                       fr_slice *passthrough, char *reason, size_t reasonlen) {
    Ctx c{d, buf, nullptr, features, passthrough, reason, reasonlen, 0};
    if (reason && reasonlen) reason[0] = 0;
    if (passthrough)
        for (size_t i = 0; i < d->s->pass.size(); i++) passthrough[i] = fr_slice{nullptr, 0};
    if (len > d->max_bytes)
        return say(c, FR_REJ_TOO_LARGE, "record is %zu bytes; the limit is %zu", len, d->max_bytes);
    const char *copy = padded ? nullptr : padded_copy(d, buf, len);
    if (!padded && !copy) return say(c, FR_REJ_TOO_LARGE, "record is %zu bytes; out of memory copying it", len);
    fr_reject r = attempt(c, copy ? copy : buf, len);
    if (r == FR_REJ_NOT_JSON && padded && (copy = padded_copy(d, buf, len)) != nullptr) {
        // On malformed input simdjson peeks at the first byte after the
        // record (its unbalanced-brackets check), so the error it reports can
        // depend on the padding: decide on zero padding, as for unpadded
        // input, so that nothing depends on whatever follows the record.
        if (passthrough)
            for (size_t i = 0; i < d->s->pass.size(); i++) passthrough[i] = fr_slice{nullptr, 0};
        r = attempt(c, copy, len);
    }
    return r;
}
