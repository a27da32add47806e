/*
 * objects_jsongen.c -- the JSON documents `pymm bench objects` generates
 * for its json-gen-* cases: deterministic (xorshift64* from a fixed seed per
 * document; the same bytes on every run and machine), shaped like real data:
 *
 *   gen-tweets   a search result of tweets, as twitter.json: nested objects
 *                full of strings (ASCII, accented, Japanese, emoji, escapes),
 *                ids as integers and strings, booleans, nulls, a quoted
 *                retweet in a third of them, small arrays of entities;
 *   gen-coords   a GeoJSON FeatureCollection, as canada.json: polygons given
 *                as long arrays of [longitude, latitude] pairs of floats
 *                with 6 to 15 decimals (a random walk);
 *   gen-catalog  an event catalogue, as citm_catalog.json: objects keyed by
 *                numeric ids ("138586341": ...), name tables, performances
 *                with price and seat-category arrays of small integers.
 *
 * The documents are streamed to a file through stdio, so generating them
 * keeps the driver's RSS small (a child's ru_maxrss starts at its parent's).
 */
#define _GNU_SOURCE
#include "pmb_objects.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct gw {
    FILE *f;
    size_t bytes; /* written so far */
    uint64_t rng;
} gw;

static uint64_t gw_rand(gw *w) {
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in 0..n-1 (n > 0). */
static unsigned gw_below(gw *w, unsigned n) { return (unsigned)((gw_rand(w) >> 33) % n); }
/* True with probability percent/100. */
static int gw_chance(gw *w, unsigned percent) { return gw_below(w, 100) < percent; }
#define GW_PICK(w, arr) ((arr)[gw_below((w), sizeof(arr) / sizeof((arr)[0]))])

static void gw_raw(gw *w, const char *s) {
    size_t n = strlen(s);
    fwrite(s, 1, n, w->f);
    w->bytes += n;
}

static void gw_fmt(gw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gw_fmt(gw *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(w->f, fmt, ap);
    va_end(ap);
    if (n > 0) w->bytes += (size_t)n;
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8
 * passes through as it is. */
static void gw_str(gw *w, const char *s) {
    fputc('"', w->f);
    w->bytes += 2;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fputc('\\', w->f);
            fputc(c, w->f);
            w->bytes += 2;
        } else if (c == '\n') {
            fputs("\\n", w->f);
            w->bytes += 2;
        } else if (c < 0x20) {
            gw_fmt(w, "\\u%04x", c);
        } else {
            fputc(c, w->f);
            w->bytes++;
        }
    }
    fputc('"', w->f);
}

/* A comma before every item of an object or array but the first. */
static void gw_sep(gw *w, int *first) {
    if (!*first) gw_raw(w, ",");
    *first = 0;
}

/* A separator when needed, then "key": */
static void gw_key(gw *w, int *first, const char *key) {
    gw_sep(w, first);
    gw_str(w, key);
    gw_raw(w, ":");
}

static void gw_kstr(gw *w, int *first, const char *key, const char *value) {
    gw_key(w, first, key);
    gw_str(w, value);
}

static void gw_kint(gw *w, int *first, const char *key, long long value) {
    gw_key(w, first, key);
    gw_fmt(w, "%lld", value);
}

static void gw_kraw(gw *w, int *first, const char *key, const char *raw) {
    gw_key(w, first, key);
    gw_raw(w, raw);
}

/* ------------------------------------------------------------------------ */
/* gen-tweets                                                               */
/* ------------------------------------------------------------------------ */

static const char *const WORDS[] = {
    "the",         "of",          "and",       "to",       "in",     "is",     "for",
    "on",          "with",        "this",      "that",     "new",    "today",  "great",
    "just",        "love",        "time",      "people",   "memory", "python", "object",
    "garbage",     "collector",   "reference", "count",    "arena",  "pool",   "heap",
    "benchmark",   "fast",        "café",      "naïve",    "über",   "señor",  "crème",
    "brûlée",      "Zürich",      "São",       "Paulo",    "日本",   "東京",   "ありがとう",
    "今日",        "天気",        "です",      "ラーメン", "미안",   "привет", "мир",
    "😀",           "🎉",           "👍",         "🔥",        "❤️", "✨",      "\"quoted\"",
    "back\\slash", "line\nbreak", "tab\there",
};
static const char *const FIRST[] = {"Ana", "Bo",   "Chen",   "Dmitri", "Élodie", "Fatima",
                                    "Gus", "Hiro", "Ines",   "João",   "Kenji",  "Lena",
                                    "Mei", "Noor", "さくら", "たろう", "Ørjan",  "Zoë"};
static const char *const PLACES[] = {"Tokyo, Japan",
                                     "Paris",
                                     "São Paulo, Brasil",
                                     "Berlin",
                                     "New York, NY",
                                     "東京都渋谷区",
                                     "",
                                     "Earth",
                                     "Zürich",
                                     "somewhere over the rainbow"};
static const char *const MONTHS[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const DAYS[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const LANGS[] = {"en", "ja", "fr", "pt", "de", "es", "ko", "ru", "und"};

/* Up to n words of the vocabulary, space-separated, into buf. */
static void gen_words(gw *w, char *buf, size_t cap, unsigned n) {
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        const char *word = GW_PICK(w, WORDS);
        int k = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", word);
        if (k < 0 || (size_t)k >= cap - len) break;
        len += (size_t)k;
    }
}

static void gen_date(gw *w, int *first, const char *key) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s %s %02u %02u:%02u:%02u +0000 20%02u", GW_PICK(w, DAYS),
             GW_PICK(w, MONTHS), 1 + gw_below(w, 28), gw_below(w, 24), gw_below(w, 60),
             gw_below(w, 60), 8 + gw_below(w, 10));
    gw_kstr(w, first, key, buf);
}

/* "id": 505874924095815681, "id_str": "505874924095815681" */
static long long gen_id(gw *w, int *first, const char *key, const char *key_str) {
    long long id = (long long)(gw_rand(w) >> 5);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", id);
    gw_kint(w, first, key, id);
    gw_kstr(w, first, key_str, buf);
    return id;
}

static void gen_indices(gw *w, int *first) {
    unsigned a = gw_below(w, 120);
    gw_key(w, first, "indices");
    gw_fmt(w, "[%u,%u]", a, a + 3 + gw_below(w, 20));
}

static void gen_screen_name(gw *w, char *buf, size_t cap) {
    snprintf(buf, cap, "%s_%u", GW_PICK(w, FIRST), gw_below(w, 100000));
}

static void gen_user(gw *w) {
    char buf[512];
    int f = 1;
    gw_raw(w, "{");
    gen_id(w, &f, "id", "id_str");
    snprintf(buf, sizeof buf, "%s %s", GW_PICK(w, FIRST), GW_PICK(w, FIRST));
    gw_kstr(w, &f, "name", buf);
    gen_screen_name(w, buf, sizeof buf);
    gw_kstr(w, &f, "screen_name", buf);
    gw_kstr(w, &f, "location", GW_PICK(w, PLACES));
    gen_words(w, buf, sizeof buf, 4 + gw_below(w, 20));
    gw_kstr(w, &f, "description", buf);
    gw_kraw(w, &f, "url", gw_chance(w, 60) ? "null" : "\"http:\\/\\/t.co\\/example\"");
    gw_kraw(w, &f, "protected", "false");
    gw_kint(w, &f, "followers_count", gw_below(w, 100000));
    gw_kint(w, &f, "friends_count", gw_below(w, 5000));
    gw_kint(w, &f, "listed_count", gw_below(w, 300));
    gen_date(w, &f, "created_at");
    gw_kint(w, &f, "favourites_count", gw_below(w, 20000));
    gw_kraw(w, &f, "utc_offset", gw_chance(w, 50) ? "null" : "32400");
    gw_kraw(w, &f, "time_zone", gw_chance(w, 50) ? "null" : "\"Tokyo\"");
    gw_kraw(w, &f, "geo_enabled", gw_chance(w, 30) ? "true" : "false");
    gw_kraw(w, &f, "verified", gw_chance(w, 5) ? "true" : "false");
    gw_kint(w, &f, "statuses_count", gw_below(w, 90000));
    gw_kstr(w, &f, "lang", GW_PICK(w, LANGS));
    snprintf(buf, sizeof buf, "%06X", gw_below(w, 0x1000000));
    gw_kstr(w, &f, "profile_background_color", buf);
    snprintf(buf, sizeof buf, "http://pbs.twimg.com/profile_images/%u/%08x_normal.jpeg",
             gw_below(w, 1000000000), gw_below(w, 0x7fffffff));
    gw_kstr(w, &f, "profile_image_url", buf);
    gw_kraw(w, &f, "default_profile", gw_chance(w, 40) ? "true" : "false");
    gw_kraw(w, &f, "following", "false");
    gw_kraw(w, &f, "notifications", "false");
    gw_raw(w, "}");
}

static void gen_hashtags(gw *w) {
    int first = 1;
    gw_raw(w, "[");
    for (unsigned i = gw_below(w, 4); i > 0; i--) {
        int f = 1;
        gw_sep(w, &first);
        gw_raw(w, "{");
        gw_kstr(w, &f, "text", GW_PICK(w, WORDS));
        gen_indices(w, &f);
        gw_raw(w, "}");
    }
    gw_raw(w, "]");
}

static void gen_mentions(gw *w) {
    char buf[64];
    int first = 1;
    gw_raw(w, "[");
    for (unsigned i = gw_below(w, 3); i > 0; i--) {
        int f = 1;
        gw_sep(w, &first);
        gw_raw(w, "{");
        gen_screen_name(w, buf, sizeof buf);
        gw_kstr(w, &f, "screen_name", buf);
        gw_kstr(w, &f, "name", GW_PICK(w, FIRST));
        gen_id(w, &f, "id", "id_str");
        gen_indices(w, &f);
        gw_raw(w, "}");
    }
    gw_raw(w, "]");
}

static void gen_urls(gw *w) {
    int first = 1;
    gw_raw(w, "[");
    for (unsigned i = gw_below(w, 3); i > 0; i--) {
        int f = 1;
        unsigned k = gw_below(w, 1000000);
        gw_sep(w, &first);
        gw_raw(w, "{");
        gw_key(w, &f, "url");
        gw_fmt(w, "\"http:\\/\\/t.co\\/%07u\"", k);
        gw_key(w, &f, "expanded_url");
        gw_fmt(w, "\"http:\\/\\/example.com\\/articles\\/%u?ref=tw\"", k);
        gw_key(w, &f, "display_url");
        gw_fmt(w, "\"example.com\\/articles\\/%u\"", k);
        gen_indices(w, &f);
        gw_raw(w, "}");
    }
    gw_raw(w, "]");
}

static void gen_entities(gw *w) {
    int f = 1;
    gw_raw(w, "{");
    gw_key(w, &f, "hashtags");
    gen_hashtags(w);
    gw_kraw(w, &f, "symbols", "[]");
    gw_key(w, &f, "urls");
    gen_urls(w);
    gw_key(w, &f, "user_mentions");
    gen_mentions(w);
    gw_raw(w, "}");
}

static void gen_coordinates(gw *w, int *first) {
    gw_key(w, first, "coordinates");
    if (gw_chance(w, 85)) {
        gw_raw(w, "null");
        return;
    }
    gw_fmt(w, "{\"type\":\"Point\",\"coordinates\":[%.6f,%.6f]}",
           (double)gw_below(w, 360000000) / 1e6 - 180.0,
           (double)gw_below(w, 180000000) / 1e6 - 90.0);
}

static void gen_tweet(gw *w, int nested) {
    char buf[1024];
    int f = 1;
    gw_raw(w, "{");
    gw_key(w, &f, "metadata");
    gw_fmt(w, "{\"result_type\":\"recent\",\"iso_language_code\":\"%s\"}", GW_PICK(w, LANGS));
    gen_date(w, &f, "created_at");
    gen_id(w, &f, "id", "id_str");
    gen_words(w, buf, sizeof buf, 5 + gw_below(w, 25));
    gw_kstr(w, &f, "text", buf);
    gw_kstr(w, &f, "source",
            "<a href=\"http://twitter.com/download/iphone\" "
            "rel=\"nofollow\">Twitter for iPhone</a>");
    gw_kraw(w, &f, "truncated", "false");
    gw_key(w, &f, "in_reply_to_status_id");
    if (gw_chance(w, 80)) gw_raw(w, "null");
    else gw_fmt(w, "%llu", (unsigned long long)(gw_rand(w) >> 5));
    gw_key(w, &f, "user");
    gen_user(w);
    gw_kraw(w, &f, "geo", "null");
    gen_coordinates(w, &f);
    gw_kraw(w, &f, "place", "null");
    if (!nested && gw_chance(w, 33)) {
        gw_key(w, &f, "retweeted_status");
        gen_tweet(w, 1);
    }
    gw_kint(w, &f, "retweet_count", gw_below(w, 5000));
    gw_kint(w, &f, "favorite_count", gw_below(w, 5000));
    gw_key(w, &f, "entities");
    gen_entities(w);
    gw_kraw(w, &f, "favorited", "false");
    gw_kraw(w, &f, "retweeted", "false");
    gw_kstr(w, &f, "lang", GW_PICK(w, LANGS));
    gw_raw(w, "}");
}

static void gen_tweets(gw *w, size_t target) {
    int first = 1, count = 0;
    gw_raw(w, "{\"statuses\":[");
    while (w->bytes < target) {
        gw_sep(w, &first);
        gen_tweet(w, 0);
        count++;
    }
    gw_fmt(w,
           "],\"search_metadata\":{\"completed_in\":0.087,\"max_id\":505874924095815681,"
           "\"query\":\"%%E4%%B8%%80\",\"count\":%d,\"since_id\":0}}\n",
           count);
}

/* ------------------------------------------------------------------------ */
/* gen-coords                                                               */
/* ------------------------------------------------------------------------ */

/* A step of a random walk: uniform in [-0.01, 0.01) with all 53 bits of a
 * double random, so the coordinates carry as many digits as surveyed data
 * converted to floats (canada.json's -65.613616999999977). */
static double gen_step(gw *w) {
    return ((double)(gw_rand(w) >> 11) / 9007199254740992.0 - 0.5) * 0.02;
}

/* One ring: a closed random walk of n points. */
static void gen_ring(gw *w, unsigned n, double lon, double lat) {
    gw_raw(w, "[");
    for (unsigned i = 0; i < n; i++) {
        double x = lon, y = lat;
        if (i + 1 < n) {
            lon += gen_step(w);
            lat += gen_step(w);
        }
        int dx = 6 + (int)gw_below(w, 10), dy = 6 + (int)gw_below(w, 10);
        gw_fmt(w, "%s[%.*f,%.*f]", i ? "," : "", dx, x, dy, y);
    }
    gw_raw(w, "]");
}

static void gen_feature(gw *w, unsigned id) {
    double lon = -140.0 + (double)gw_below(w, 8000) / 100.0;
    double lat = 42.0 + (double)gw_below(w, 4000) / 100.0;
    gw_fmt(w,
           "{\"type\":\"Feature\",\"properties\":{\"name\":\"Region %u\",\"id\":%u},"
           "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[",
           id, id);
    for (unsigned r = 0, rings = 1 + gw_below(w, 3); r < rings; r++) {
        if (r) gw_raw(w, ",");
        gen_ring(w, 200 + gw_below(w, 5000), lon, lat);
    }
    gw_raw(w, "]}}");
}

static void gen_coords(gw *w, size_t target) {
    gw_raw(w, "{\"type\":\"FeatureCollection\",\"features\":[");
    for (unsigned id = 0; w->bytes < target; id++) {
        if (id) gw_raw(w, ",");
        gen_feature(w, id);
    }
    gw_raw(w, "]}\n");
}

/* ------------------------------------------------------------------------ */
/* gen-catalog                                                              */
/* ------------------------------------------------------------------------ */

static const char *const VENUES[] = {"PLEYEL_PLEYEL", "OPERA_BASTILLE", "OLYMPIA",
                                     "ZENITH",        "CIGALE",         "BATACLAN"};
static const char *const TITLES[] = {
    "Orchestre Philharmonique", "30th Anniversary Tour", "Récital de piano",
    "Quatuor à cordes",         "Jazz à Paris",          "Ballet",
    "Les Arts Florissants",     "Musique de chambre",    "Opéra en concert",
    "Chœur et orchestre"};
static const char *const SEATS[] = {"1ère catégorie",   "2ème catégorie", "3ème catégorie",
                                    "Catégorie unique", "Balcon",         "Parterre",
                                    "Arrière-scène"};

#define CAT_AREAS 600
#define CAT_TOPICS 40

static unsigned area_id(unsigned i) { return 205705993u + i * 7u; }
static unsigned topic_id(unsigned i) { return 324846099u + i * 13u; }

/* A table {"id": "name", ...} of n numeric ids. */
static void gen_name_table(gw *w, unsigned n, unsigned (*id)(unsigned), const char *const *names,
                           unsigned nnames) {
    char key[16], name[96];
    int first = 1;
    gw_raw(w, "{");
    for (unsigned i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%u", id(i));
        snprintf(name, sizeof name, "%s %u", names[gw_below(w, nnames)], i);
        gw_kstr(w, &first, key, name);
    }
    gw_raw(w, "}");
}

static void gen_id_array(gw *w, unsigned n, unsigned (*id)(unsigned), unsigned range) {
    gw_raw(w, "[");
    for (unsigned i = 0; i < n; i++) gw_fmt(w, "%s%u", i ? "," : "", id(gw_below(w, range)));
    gw_raw(w, "]");
}

static unsigned event_id(unsigned i) { return 138586341u + i * 11u; }

static void gen_event(gw *w, unsigned i) {
    char key[16];
    snprintf(key, sizeof key, "%u", event_id(i));
    gw_str(w, key);
    gw_fmt(w, ":{\"description\":null,\"id\":%u,\"logo\":%s,\"name\":", event_id(i),
           gw_chance(w, 30) ? "\"/images/UE0AAAAACEKo6QAAAAVDSVRN\"" : "null");
    gw_str(w, GW_PICK(w, TITLES));
    gw_raw(w, ",\"subTopicIds\":");
    gen_id_array(w, 1 + gw_below(w, 4), topic_id, CAT_TOPICS);
    gw_raw(w, ",\"subjectCode\":null,\"subtitle\":null,\"topicIds\":");
    gen_id_array(w, 1 + gw_below(w, 3), topic_id, CAT_TOPICS);
    gw_raw(w, "}");
}

static unsigned seat_id(unsigned i) { return 338937295u + i; }

static void gen_prices(gw *w, unsigned nseats) {
    gw_raw(w, "[");
    for (unsigned s = 0; s < nseats; s++)
        gw_fmt(w, "%s{\"amount\":%u,\"audienceSubCategoryId\":337100890,\"seatCategoryId\":%u}",
               s ? "," : "", 1000u * (10u + gw_below(w, 190)), seat_id(s));
    gw_raw(w, "]");
}

static void gen_seat_categories(gw *w, unsigned nseats) {
    gw_raw(w, "[");
    for (unsigned s = 0; s < nseats; s++) {
        gw_fmt(w, "%s{\"areas\":[", s ? "," : "");
        for (unsigned a = 0, na = 1 + gw_below(w, 6); a < na; a++)
            gw_fmt(w, "%s{\"areaId\":%u,\"blockIds\":[]}", a ? "," : "",
                   area_id(gw_below(w, CAT_AREAS)));
        gw_fmt(w, "],\"seatCategoryId\":%u}", seat_id(s));
    }
    gw_raw(w, "]");
}

static void gen_performance(gw *w, unsigned i, unsigned nevents) {
    unsigned nseats = 1 + gw_below(w, 5);
    gw_fmt(w, "{\"eventId\":%u,\"id\":%u,\"logo\":null,\"name\":null,\"prices\":",
           event_id(gw_below(w, nevents)), 339887544u + i);
    gen_prices(w, nseats);
    gw_raw(w, ",\"seatCategories\":");
    gen_seat_categories(w, nseats);
    gw_fmt(w, ",\"seatMapImage\":null,\"start\":%llu,\"venueCode\":\"%s\"}",
           1372701600000ull + 3600000ull * gw_below(w, 20000), GW_PICK(w, VENUES));
}

/* The name tables first, then events (a quarter of the target), then
 * performances up to the target. */
static void gen_catalog(gw *w, size_t target) {
    unsigned nevents = 0;
    gw_raw(w, "{\"areaNames\":");
    gen_name_table(w, CAT_AREAS, area_id, SEATS, sizeof SEATS / sizeof SEATS[0]);
    gw_raw(w, ",\"topicNames\":");
    gen_name_table(w, CAT_TOPICS, topic_id, TITLES, sizeof TITLES / sizeof TITLES[0]);
    gw_raw(w, ",\"events\":{");
    for (; w->bytes < target / 4; nevents++) {
        if (nevents) gw_raw(w, ",");
        gen_event(w, nevents);
    }
    gw_raw(w, "},\"performances\":[");
    for (unsigned i = 0; w->bytes < target; i++) {
        if (i) gw_raw(w, ",");
        gen_performance(w, i, nevents ? nevents : 1);
    }
    gw_raw(w, "],\"venueNames\":{\"PLEYEL_PLEYEL\":\"Salle Pleyel\"}}\n");
}

/* ------------------------------------------------------------------------ */

typedef struct gen_doc {
    const char *name;
    void (*write)(gw *w, size_t target);
    size_t full_bytes;
    uint64_t seed;
} gen_doc;

/* About 40 MB in all in the full run. */
static const gen_doc DOCS[PMB_NUM_GEN_DOCS] = {
    {"gen-tweets", gen_tweets, 16u << 20, 0x7733EE7500000001ull},
    {"gen-coords", gen_coords, 12u << 20, 0xC00D5000000002ull},
    {"gen-catalog", gen_catalog, 12u << 20, 0xCA7A10900000003ull},
};

const char *pmb_gen_doc_name(int i) { return DOCS[i].name; }

long pmb_gen_doc_write(int i, const char *path, int quick) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    gw w = {f, 0, DOCS[i].seed};
    DOCS[i].write(&w, quick ? DOCS[i].full_bytes / 4 : DOCS[i].full_bytes);
    int err = ferror(f);
    if (fclose(f) != 0 || err) return -1;
    return (long)w.bytes;
}
