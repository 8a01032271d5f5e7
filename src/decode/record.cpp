// Record decoder (include/fraudd/record.h): one JSON transaction -> a row of
// model features, over simdjson's On-Demand API.
//
// Design. The schema compiles the wanted dotted paths into a trie; each trie
// level is a small open-addressing hash table keyed by the raw key bytes.
// Decoding walks the record's top-level fields once, in document order:
// a field whose key is not in the table is skipped without being parsed
// (On-Demand skips by structure), a key that leads to a nested level is
// descended into only if its value is an object, a key that is a leaf is
// read as a number (or numeric string) or kept as raw JSON text
// (passthrough). Features never seen are filled from defaults or reject
// the record. No DOM is built; the only per-record work beyond simdjson's
// stage 1 is the hash probe per field.
//
// Validation. simdjson validates UTF-8 and the structure; values fraudd reads
// are fully validated by reading them. Passthrough values are copied as raw
// text, so they are validated first (strings unescaped, numbers parsed,
// objects/arrays through simdjson's validating DOM parser) to guarantee
// the result line is valid JSON. Trailing content after the object is an
// error.
//
// Threads: a schema is immutable after fr_record_schema_new and may be shared;
// a decoder (parser, buffers, "seen" marks) belongs to one thread.
// Errors never throw: simdjson is used through its error-code API.
#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#include <simdjson.h>

extern "C" {
#include "fraudd/err.h"
#include "fraudd/record.h"
}

static_assert(FR_JSON_PADDING == simdjson::SIMDJSON_PADDING, "FR_JSON_PADDING must match simdjson's padding");

namespace {

constexpr size_t kMaxDepth = 8;     // dotted path segments
constexpr uint32_t kNone = UINT32_MAX;

struct Level;

struct Entry {
    std::string key;           // one path segment, unescaped
    uint64_t k[2] = {0, 0};    // first 16 bytes of key, zero padded (fast compare)
    uint64_t mask[2] = {0, 0}; // which bytes of k count (keys up to 16 bytes)
    uint32_t feature = kNone;  // feature index if a feature path ends here
    uint32_t pass = kNone;     // passthrough index if a passthrough path ends here
    Level *child = nullptr;    // next level if longer paths go through here
    uint32_t id = 0;           // index into the decoder's seen marks
};

struct Level {
    std::vector<Entry> entries;
    std::vector<uint32_t> table;  // open addressing: entry index + 1, 0 = empty
    uint32_t mask = 0;
    ~Level() {
        for (auto &e : entries) delete e.child;
    }
};

inline uint32_t hash_key(const char *p, size_t n) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

void prepare_key(Entry &e) {
    char b[16] = {0};
    memcpy(b, e.key.data(), e.key.size() < 16 ? e.key.size() : 16);
    memcpy(e.k, b, 16);
    for (size_t i = 0; i < 16; i++)
        if (i < e.key.size()) e.mask[i / 8] |= 0xffull << (8 * (i % 8));
}

void build_tables(Level *l) {
    size_t cap = 4;
    while (cap < l->entries.size() * 2) cap *= 2;
    l->table.assign(cap, 0);
    l->mask = (uint32_t)(cap - 1);
    for (size_t i = 0; i < l->entries.size(); i++) {
        prepare_key(l->entries[i]);
        uint32_t h = hash_key(l->entries[i].key.data(), l->entries[i].key.size()) & l->mask;
        while (l->table[h]) h = (h + 1) & l->mask;
        l->table[h] = (uint32_t)i + 1;
        if (l->entries[i].child) build_tables(l->entries[i].child);
    }
}

// Key equality. `overread`: p lies inside the padded JSON buffer, so 16 bytes
// from p may be read even if the key is shorter; keys up to 16 bytes then
// compare as two masked 64-bit words instead of a memcmp call.
inline bool key_eq(const Entry &en, const char *p, size_t n, bool overread) {
    if (en.key.size() != n) return false;
    if (overread && n <= 16) {
        uint64_t a[2];
        memcpy(a, p, 16);
        return ((a[0] & en.mask[0]) == en.k[0]) & ((a[1] & en.mask[1]) == en.k[1]);
    }
    return memcmp(en.key.data(), p, n) == 0;
}

inline const Entry *lookup(const Level *l, const char *p, size_t n, bool overread) {
    uint32_t h = hash_key(p, n) & l->mask;
    for (uint32_t e; (e = l->table[h]) != 0; h = (h + 1) & l->mask) {
        const Entry &en = l->entries[e - 1];
        if (key_eq(en, p, n, overread)) return &en;
    }
    return nullptr;
}

}  // namespace

struct fr_record_schema {
    Level root;                          // top-level keys
    std::vector<std::string> features;   // feature paths, in model order
    std::vector<std::string> pass;       // passthrough paths
    std::vector<float> defaults;         // per feature
    std::vector<uint8_t> has_default;    // per feature
    uint32_t n_entries = 0;              // trie entries (size of seen marks)
};

struct fr_decoder {
    const fr_record_schema *s;              // shared schema
    simdjson::ondemand::parser parser;      // this thread's On-Demand parser
    simdjson::dom::parser validator;        // validates object/array passthrough values
    size_t max_bytes;                       // larger records are too_large
    char *copy = nullptr;                   // padded copy for unpadded input
    size_t copy_cap = 0;                    // bytes allocated for copy (without padding)
    std::vector<uint32_t> seen;             // per trie entry: epoch it was last seen in
    std::vector<uint32_t> feature_seen;     // per feature: epoch of a value
    uint32_t epoch = 0;                     // current decode's number
    const char *base = nullptr;             // start of the bytes being parsed
};

extern "C" const char *fr_reject_name(fr_reject r) {
    switch (r) {
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

// Adds one dotted path; kind 0 = feature, 1 = passthrough.
static int add_path(fr_record_schema *s, const char *path, uint32_t idx, int kind, char *err, size_t errlen) {
    Level *l = &s->root;
    const char *p = path;
    size_t depth = 0;
    if (!*p) return fr_set_err(err, errlen, FR_EINVAL, "empty field path");
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0) return fr_set_err(err, errlen, FR_EINVAL, "field path \"%s\": empty segment", path);
        if (++depth > kMaxDepth)
            return fr_set_err(err, errlen, FR_EINVAL, "field path \"%s\": more than %zu levels", path, kMaxDepth);
        Entry *e = nullptr;
        for (auto &x : l->entries)
            if (x.key.size() == n && memcmp(x.key.data(), p, n) == 0) e = &x;
        if (!e) {
            l->entries.emplace_back();
            e = &l->entries.back();
            e->key.assign(p, n);
            e->id = s->n_entries++;
        }
        if (!dot) {
            uint32_t &slot = kind == 0 ? e->feature : e->pass;
            if (slot != kNone)
                return fr_set_err(err, errlen, FR_EINVAL, "field path \"%s\" is listed twice", path);
            if (e->child)
                return fr_set_err(err, errlen, FR_EINVAL, "field path \"%s\" is both a value and an object of other paths",
                                  path);
            slot = idx;
            return 0;
        }
        if (e->feature != kNone || e->pass != kNone)
            return fr_set_err(err, errlen, FR_EINVAL, "field path \"%s\" goes through a field that is itself a value",
                              path);
        if (!e->child) e->child = new Level();
        l = e->child;
        p = dot + 1;
    }
}

extern "C" int fr_record_schema_new(const char *const *features, size_t n, const float *defaults,
                                    const uint8_t *has_default, const char *const *passthrough, size_t np,
                                    fr_record_schema **out, char *err, size_t errlen) {
    *out = nullptr;
    fr_record_schema *s = new (std::nothrow) fr_record_schema();
    if (!s) return FR_ENOMEM;
    int rc = 0;
    try {
        for (size_t i = 0; i < n && rc == 0; i++) {
            s->features.emplace_back(features[i]);
            s->defaults.push_back(defaults && has_default && has_default[i] ? defaults[i] : 0.0f);
            s->has_default.push_back(has_default ? has_default[i] : 0);
            rc = add_path(s, features[i], (uint32_t)i, 0, err, errlen);
        }
        for (size_t i = 0; i < np && rc == 0; i++) {
            s->pass.emplace_back(passthrough[i]);
            rc = add_path(s, passthrough[i], (uint32_t)i, 1, err, errlen);
        }
        if (rc == 0) build_tables(&s->root);
    } catch (const std::bad_alloc &) {
        rc = FR_ENOMEM;
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

extern "C" fr_decoder *fr_decoder_new(const fr_record_schema *s, size_t max_bytes) {
    fr_decoder *d = new (std::nothrow) fr_decoder();
    if (!d) return nullptr;
    d->s = s;
    d->max_bytes = max_bytes;
    try {
        d->seen.assign(s->n_entries, 0);
        d->feature_seen.assign(s->features.size(), 0);
    } catch (const std::bad_alloc &) {
        delete d;
        return nullptr;
    }
    // Room for the largest record up front, so decoding never allocates.
    if (d->parser.allocate(max_bytes ? max_bytes : 1) != simdjson::SUCCESS) {
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
    fr_decoder *d;
    float *features;
    fr_slice *pass;
    char *reason;
    size_t reasonlen;
};

// Writes a reason sentence; returns r.
fr_reject say(Ctx &c, fr_reject r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
fr_reject say(Ctx &c, fr_reject r, const char *fmt, ...) {
    if (c.reason && c.reasonlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c.reason, c.reasonlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

fr_reject json_error(Ctx &c, simdjson::error_code e, simdjson::ondemand::document &doc) {
    const char *loc = nullptr;
    if (doc.current_location().get(loc) == simdjson::SUCCESS && loc && c.d->base && loc > c.d->base)
        return say(c, FR_REJ_NOT_JSON, "not valid JSON: %s near byte %zu", simdjson::error_message(e),
                   (size_t)(loc - c.d->base));
    return say(c, FR_REJ_NOT_JSON, "not valid JSON: %s", simdjson::error_message(e));
}

const char *type_name(simdjson::ondemand::json_type t) {
    switch (t) {
    case simdjson::ondemand::json_type::array: return "an array";
    case simdjson::ondemand::json_type::object: return "an object";
    case simdjson::ondemand::json_type::number: return "a number";
    case simdjson::ondemand::json_type::string: return "a string";
    case simdjson::ondemand::json_type::boolean: return "a boolean";
    case simdjson::ondemand::json_type::null: return "null";
    }
    return "something else";
}

// Reads a feature value. Returns FR_REJ_NONE and sets *out, or a reason.
fr_reject read_number(Ctx &c, simdjson::ondemand::value &v, uint32_t f, float *out, bool *is_null,
                      simdjson::ondemand::document &doc) {
    using namespace simdjson;
    const std::string &name = c.d->s->features[f];
    ondemand::json_type t;
    error_code e = v.type().get(t);
    if (e) return json_error(c, e, doc);
    double x = 0;
    *is_null = false;
    switch (t) {
    case ondemand::json_type::number:
        if ((e = v.get_double().get(x)) != SUCCESS) {
            // simdjson refuses numbers beyond double range as NUMBER_ERROR: tell them apart
            std::string_view tok = v.raw_json_token();
            const char *te = tok.data() + tok.size();
            while (te > tok.data() && (te[-1] == ' ' || te[-1] == '\n' || te[-1] == '\r' || te[-1] == '\t' ||
                                       te[-1] == ',' || te[-1] == '}' || te[-1] == ']'))
                te--;
            double big;
            auto r = std::from_chars(tok.data(), te, big);
            if (e == NUMBER_OUT_OF_RANGE || r.ec == std::errc::result_out_of_range)
                return say(c, FR_REJ_NONFINITE, "feature \"%s\": number out of range", name.c_str());
            return json_error(c, e, doc);
        }
        break;
    case ondemand::json_type::string: {
        std::string_view sv;
        if ((e = v.get_string().get(sv)) != SUCCESS) return json_error(c, e, doc);
        const char *b = sv.data(), *en = sv.data() + sv.size();
        auto r = std::from_chars(b, en, x);
        if (sv.empty() || r.ec == std::errc::invalid_argument || r.ptr != en) {
            int shown = sv.size() > 40 ? 40 : (int)sv.size();
            return say(c, FR_REJ_TYPE, "feature \"%s\": expected a number or numeric string, got \"%.*s%s\"",
                       name.c_str(), shown, b, sv.size() > 40 ? "..." : "");
        }
        if (r.ec == std::errc::result_out_of_range)
            return say(c, FR_REJ_NONFINITE, "feature \"%s\": number out of range", name.c_str());
        break;
    }
    case ondemand::json_type::null:
        *is_null = true;
        return FR_REJ_NONE;
    default:
        return say(c, FR_REJ_TYPE, "feature \"%s\": expected a number or numeric string, got %s", name.c_str(),
                   type_name(t));
    }
    if (!std::isfinite(x) || std::fabs(x) > (double)std::numeric_limits<float>::max())
        return say(c, FR_REJ_NONFINITE, "feature \"%s\": value is not a finite float32 number", name.c_str());
    *out = (float)x;
    return FR_REJ_NONE;
}

// Validates a passthrough value and returns its raw text.
fr_reject read_raw(Ctx &c, simdjson::ondemand::value &v, uint32_t p, fr_slice *out, simdjson::ondemand::document &doc) {
    using namespace simdjson;
    ondemand::json_type t;
    error_code e = v.type().get(t);
    if (e) return json_error(c, e, doc);
    std::string_view raw;
    switch (t) {
    case ondemand::json_type::string: {
        // the token is the quoted text; unescaping validates the escapes
        raw = v.raw_json_token();
        std::string_view sv;
        if ((e = v.get_string().get(sv)) != SUCCESS) return json_error(c, e, doc);
        break;
    }
    case ondemand::json_type::number: {
        raw = v.raw_json_token();
        ondemand::number n;
        if ((e = v.get_number().get(n)) != SUCCESS) return json_error(c, e, doc);
        break;
    }
    case ondemand::json_type::boolean: {
        raw = v.raw_json_token();
        bool b;
        if ((e = v.get_bool().get(b)) != SUCCESS) return json_error(c, e, doc);
        break;
    }
    case ondemand::json_type::null: {
        raw = v.raw_json_token();
        bool isn;
        if ((e = v.is_null().get(isn)) != SUCCESS || !isn) return json_error(c, e ? e : INCORRECT_TYPE, doc);
        break;
    }
    default: {
        if (t == ondemand::json_type::object) {
            ondemand::object o;
            if ((e = v.get_object().get(o)) != SUCCESS || (e = o.raw_json().get(raw)) != SUCCESS)
                return json_error(c, e, doc);
        } else {
            ondemand::array a;
            if ((e = v.get_array().get(a)) != SUCCESS || (e = a.raw_json().get(raw)) != SUCCESS)
                return json_error(c, e, doc);
        }
        dom::element el;
        if ((e = c.d->validator.parse(raw.data(), raw.size(), true).get(el)) != SUCCESS)
            return say(c, FR_REJ_NOT_JSON, "field \"%s\": not valid JSON: %s", c.d->s->pass[p].c_str(),
                       error_message(e));
    }
    }
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
    out->ptr = raw.data();
    out->len = raw.size();
    return FR_REJ_NONE;
}

fr_reject walk(Ctx &c, simdjson::ondemand::object obj, const Level *level, size_t depth,
               simdjson::ondemand::document &doc) {
    using namespace simdjson;
    fr_decoder *d = c.d;
    for (auto field : obj) {  // simdjson_result<field>: used in place, no copies
        error_code e = field.error();
        if (e) return json_error(c, e, doc);
        // Raw key: the bytes between the quotes; escaped keys are unescaped.
        ondemand::raw_json_string rk;
        if ((e = field.key().get(rk)) != SUCCESS) return json_error(c, e, doc);
        const char *kp = rk.raw();
        const char *q = kp;
        while (*q != '"' && *q != '\\') q++;
        std::string_view key(kp, (size_t)(q - kp));
        bool raw = *q != '\\';  // raw keys live in the padded record: overreading is safe
        if (!raw && (e = field.unescaped_key().get(key)) != SUCCESS) return json_error(c, e, doc);
        const Entry *en = lookup(level, key.data(), key.size(), raw);
        if (!en) continue;  // not wanted: skipped by the iterator
        if (d->seen[en->id] == d->epoch)
            return say(c, FR_REJ_DUPLICATE, "field \"%.*s\" appears twice", (int)key.size(), key.data());
        d->seen[en->id] = d->epoch;
        if (en->child == nullptr && en->pass == kNone) {
            // hot path: a feature holding a plain JSON number (read straight from the
            // field's result: copying the value out costs a store-forwarding stall)
            double x;
            if (field.value().get_double().get(x) == SUCCESS) {
                if (!(std::fabs(x) <= (double)std::numeric_limits<float>::max()))
                    return say(c, FR_REJ_NONFINITE, "feature \"%s\": value is not a finite float32 number",
                               d->s->features[en->feature].c_str());
                c.features[en->feature] = (float)x;
                d->feature_seen[en->feature] = d->epoch;
                continue;
            }
        }
        ondemand::value v = field.value().value_unsafe();  // no error: field.error() was checked
        if (en->child) {
            ondemand::json_type t;
            if ((e = v.type().get(t)) != SUCCESS) return json_error(c, e, doc);
            if (t != ondemand::json_type::object) continue;  // its features count as missing
            ondemand::object sub;
            if ((e = v.get_object().get(sub)) != SUCCESS) return json_error(c, e, doc);
            fr_reject r = walk(c, sub, en->child, depth + 1, doc);
            if (r != FR_REJ_NONE) return r;
            continue;
        }
        if (en->pass != kNone) {
            if (en->feature != kNone) {
                // both: validate as passthrough text, then read the number from that text
                fr_reject r = read_raw(c, v, en->pass, &c.pass[en->pass], doc);
                if (r != FR_REJ_NONE) return r;
                const char *b = c.pass[en->pass].ptr, *end = b + c.pass[en->pass].len;
                if (*b == '"') b++, end--;
                double x;
                auto fc = std::from_chars(b, end, x);
                if (fc.ec != std::errc() || fc.ptr != end || !std::isfinite(x) ||
                    std::fabs(x) > (double)std::numeric_limits<float>::max())
                    return say(c, FR_REJ_TYPE, "feature \"%s\": expected a finite number or numeric string",
                               d->s->features[en->feature].c_str());
                c.features[en->feature] = (float)x;
                d->feature_seen[en->feature] = d->epoch;
                continue;
            }
            fr_reject r = read_raw(c, v, en->pass, &c.pass[en->pass], doc);
            if (r != FR_REJ_NONE) return r;
            continue;
        }
        bool is_null;
        fr_reject r = read_number(c, v, en->feature, &c.features[en->feature], &is_null, doc);
        if (r != FR_REJ_NONE) return r;
        if (is_null) {
            if (!d->s->has_default[en->feature])
                return say(c, FR_REJ_NULL, "feature \"%s\" is null; expected a number", d->s->features[en->feature].c_str());
            c.features[en->feature] = d->s->defaults[en->feature];
        }
        d->feature_seen[en->feature] = d->epoch;
    }
    (void)depth;
    return FR_REJ_NONE;
}

}  // namespace

extern "C" fr_reject fr_decoder_decode(fr_decoder *d, const char *buf, size_t len, int padded, float *features,
                                       fr_slice *passthrough, char *reason, size_t reasonlen) {
    using namespace simdjson;
    Ctx c{d, features, passthrough, reason, reasonlen};
    if (reason && reasonlen) reason[0] = 0;
    if (len > d->max_bytes)
        return say(c, FR_REJ_TOO_LARGE, "record is %zu bytes; the limit is %zu", len, d->max_bytes);
    if (!padded) {
        if (len > d->copy_cap || !d->copy) {
            char *p = (char *)realloc(d->copy, len + simdjson::SIMDJSON_PADDING + 1);
            if (!p) return say(c, FR_REJ_TOO_LARGE, "record is %zu bytes; out of memory to copy it", len);
            d->copy = p;
            d->copy_cap = len;
        }
        memcpy(d->copy, buf, len);
        memset(d->copy + len, 0, simdjson::SIMDJSON_PADDING);
        buf = d->copy;
    }
    d->base = buf;
    if (++d->epoch == 0) {  // wrapped: forget every mark
        std::fill(d->seen.begin(), d->seen.end(), 0);
        std::fill(d->feature_seen.begin(), d->feature_seen.end(), 0);
        d->epoch = 1;
    }
    for (size_t i = 0; i < d->s->pass.size(); i++) passthrough[i] = fr_slice{nullptr, 0};

    ondemand::document doc;
    error_code e = d->parser.iterate(buf, len, len + simdjson::SIMDJSON_PADDING).get(doc);
    if (e) return say(c, FR_REJ_NOT_JSON, "not valid JSON: %s", error_message(e));
    ondemand::json_type t;
    if ((e = doc.type().get(t)) != SUCCESS) return json_error(c, e, doc);
    if (t != ondemand::json_type::object) {
        // rare path: tell valid non-objects from garbage with the validating parser
        dom::element el;
        if ((e = d->validator.parse(buf, len, false).get(el)) != SUCCESS)
            return say(c, FR_REJ_NOT_JSON, "not valid JSON: %s", error_message(e));
        return say(c, FR_REJ_NOT_OBJECT, "expected a JSON object, got %s", type_name(t));
    }
    ondemand::object obj;
    if ((e = doc.get_object().get(obj)) != SUCCESS) return json_error(c, e, doc);
    fr_reject r = walk(c, obj, &d->s->root, 0, doc);
    if (r != FR_REJ_NONE) return r;
    const char *rest = nullptr;  // in bounds after the object: something follows it
    if (doc.current_location().get(rest) == SUCCESS)
        return say(c, FR_REJ_NOT_JSON, "not valid JSON: content after the object at byte %zu", (size_t)(rest - buf));

    const fr_record_schema *s = d->s;
    for (size_t f = 0; f < s->features.size(); f++) {
        if (d->feature_seen[f] == d->epoch) continue;
        if (!s->has_default[f])
            return say(c, FR_REJ_MISSING, "feature \"%s\" is missing; expected a number", s->features[f].c_str());
        features[f] = s->defaults[f];
    }
    return FR_REJ_NONE;
}
