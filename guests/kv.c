/*
 * kv - a key-value store served over the Lockstep network device.
 *
 * Protocol (one request per packet, ASCII, an optional trailing "\n" or
 * "\r\n" is ignored; replies carry no newline and go back to the sender):
 *
 *   <id> PUT <key> <value>   ->  <id> OK
 *   <id> GET <key>           ->  <id> VALUE <value>  |  <id> NOTFOUND
 *   <id> DEL <key>           ->  <id> OK             |  <id> NOTFOUND
 *   <id> INCR <key>          ->  <id> <new value>    (missing key counts as 0)
 *   anything wrong           ->  <id> ERR <reason>
 *
 * Tokens are separated by runs of spaces. <id> and <key> are single tokens;
 * <value> is the rest of the packet after the key, so it may contain spaces
 * (and any other byte). Command names are case-insensitive. A request with
 * no usable id is answered with "-" in place of the id.
 *
 * Exactly-once: every answered request is remembered per peer, keyed by
 * (peer, id). A repeated id from the same peer gets the remembered answer
 * resent and is not executed again.
 *
 * Limits (fixed tables, no malloc):
 *   key        1..128 bytes            ("ERR key too long")
 *   value      1..1024 bytes           ("ERR value too long")
 *   id         1..32 bytes             ("- ERR id too long")
 *   store      4096 keys               ("ERR store full")
 *   dedup      the last 64 answered ids for each of the 64 most recently
 *              active peers; an id older than that, or from a peer evicted
 *              by 64 newer peers, would be executed again.
 *   integers   signed 64-bit           ("ERR integer overflow")
 *
 * Receive is interrupt driven: the guest sleeps in wfi until the device
 * raises MEIP, then drains the whole queue from the main loop.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lockstep.h"

#define MAX_KEY       128
#define MAX_VALUE     1024
#define MAX_ID        32
#define MAX_ENTRIES   4096
#define SLOT_COUNT    (MAX_ENTRIES * 2)     /* load factor <= 0.5 */
#define PEER_SLOTS    64
#define IDS_PER_PEER  64
/* Longest reply: "<id> VALUE <value>"; everything else is shorter. */
#define MAX_REPLY     (MAX_ID + sizeof(" VALUE ") - 1 + MAX_VALUE)

typedef struct {
    const char *p;
    uint32_t len;
} slice_t;

/* ---- Store: open addressing with linear probing ----------------------- */

typedef struct {
    uint32_t hash;
    uint16_t key_len;
    uint16_t val_len;
    char key[MAX_KEY];
    char val[MAX_VALUE];
} entry_t;

static entry_t entries[MAX_ENTRIES];
static uint16_t free_list[MAX_ENTRIES];
static uint32_t free_count;
/* 0 = empty, otherwise index into entries[] plus one. */
static uint16_t slots[SLOT_COUNT];

static uint32_t hash_bytes(const char *p, uint32_t len)
{
    uint32_t h = 2166136261u;           /* FNV-1a */
    for (uint32_t i = 0; i < len; i++) {
        h ^= (uint8_t)p[i];
        h *= 16777619u;
    }
    return h;
}

static void store_init(void)
{
    for (uint32_t i = 0; i < MAX_ENTRIES; i++)
        free_list[i] = (uint16_t)(MAX_ENTRIES - 1 - i);
    free_count = MAX_ENTRIES;
}

/* Returns the slot holding key, or the empty slot where it would go. */
static uint32_t store_find_slot(slice_t key, uint32_t hash)
{
    uint32_t s = hash % SLOT_COUNT;
    for (;;) {
        uint16_t e = slots[s];
        if (e == 0)
            return s;
        const entry_t *ent = &entries[e - 1];
        if (ent->hash == hash && ent->key_len == key.len &&
            memcmp(ent->key, key.p, key.len) == 0)
            return s;
        s = (s + 1) % SLOT_COUNT;
    }
}

static entry_t *store_get(slice_t key)
{
    uint16_t e = slots[store_find_slot(key, hash_bytes(key.p, key.len))];
    return e ? &entries[e - 1] : NULL;
}

/* Finds or creates the entry for key; NULL when the store is full. */
static entry_t *store_upsert(slice_t key)
{
    uint32_t hash = hash_bytes(key.p, key.len);
    uint32_t s = store_find_slot(key, hash);
    if (slots[s])
        return &entries[slots[s] - 1];
    if (free_count == 0)
        return NULL;
    uint16_t idx = free_list[--free_count];
    entry_t *ent = &entries[idx];
    ent->hash = hash;
    ent->key_len = (uint16_t)key.len;
    memcpy(ent->key, key.p, key.len);
    ent->val_len = 0;
    slots[s] = (uint16_t)(idx + 1);
    return ent;
}

static bool store_del(slice_t key)
{
    uint32_t hole = store_find_slot(key, hash_bytes(key.p, key.len));
    if (slots[hole] == 0)
        return false;
    free_list[free_count++] = (uint16_t)(slots[hole] - 1);

    /* Backward-shift deletion: pull later members of the probe run into
     * the hole so lookups never need tombstones. An entry may move back
     * only if its home slot is not cyclically inside (hole, s]. */
    uint32_t s = hole;
    for (;;) {
        s = (s + 1) % SLOT_COUNT;
        if (slots[s] == 0)
            break;
        uint32_t home = entries[slots[s] - 1].hash % SLOT_COUNT;
        bool home_in_range = hole <= s ? (home > hole && home <= s)
                                       : (home > hole || home <= s);
        if (!home_in_range) {
            slots[hole] = slots[s];
            hole = s;
        }
    }
    slots[hole] = 0;
    return true;
}

/* ---- Exactly-once: per-peer log of recent answers --------------------- */

typedef struct {
    uint8_t id_len;
    uint16_t reply_len;
    char id[MAX_ID];
    char reply[MAX_REPLY];
} answer_t;

typedef struct {
    bool used;
    uint32_t peer;
    uint32_t last_active;               /* for LRU eviction of peers */
    uint32_t count;                     /* valid answers, <= IDS_PER_PEER */
    uint32_t next;                      /* ring position to overwrite */
    answer_t answers[IDS_PER_PEER];
} peer_log_t;

static peer_log_t peer_logs[PEER_SLOTS];
static uint32_t activity_clock;

static peer_log_t *peer_log_for(uint32_t peer)
{
    peer_log_t *victim = &peer_logs[0];
    for (uint32_t i = 0; i < PEER_SLOTS; i++) {
        peer_log_t *log = &peer_logs[i];
        if (log->used && log->peer == peer) {
            log->last_active = ++activity_clock;
            return log;
        }
        if (!log->used)
            victim = log;
        else if (victim->used && log->last_active < victim->last_active)
            victim = log;
    }
    victim->used = true;
    victim->peer = peer;
    victim->count = 0;
    victim->next = 0;
    victim->last_active = ++activity_clock;
    return victim;
}

static const answer_t *peer_log_find(const peer_log_t *log, slice_t id)
{
    for (uint32_t i = 0; i < log->count; i++) {
        const answer_t *a = &log->answers[i];
        if (a->id_len == id.len && memcmp(a->id, id.p, id.len) == 0)
            return a;
    }
    return NULL;
}

static void peer_log_add(peer_log_t *log, slice_t id, const char *reply, uint32_t len)
{
    answer_t *a = &log->answers[log->next];
    a->id_len = (uint8_t)id.len;
    memcpy(a->id, id.p, id.len);
    a->reply_len = (uint16_t)len;
    memcpy(a->reply, reply, len);
    log->next = (log->next + 1) % IDS_PER_PEER;
    if (log->count < IDS_PER_PEER)
        log->count++;
}

/* ---- Reply building ---------------------------------------------------- */

typedef struct {
    char buf[MAX_REPLY];
    uint32_t len;
} reply_t;

static void reply_add(reply_t *r, const char *p, uint32_t len)
{
    if (len > MAX_REPLY - r->len)       /* cannot happen within the limits */
        len = MAX_REPLY - r->len;
    memcpy(r->buf + r->len, p, len);
    r->len += len;
}

static void reply_str(reply_t *r, const char *s)
{
    reply_add(r, s, strlen(s));
}

/* Formats v in decimal into out (at least 20 bytes); returns the length. */
static uint32_t format_i64(int64_t v, char *out)
{
    char tmp[20];
    uint32_t n = 0, len = 0;
    /* Work in unsigned so INT64_MIN negates without overflow. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

/* Strict decimal: optional '-', then 1..19 digits, within int64_t. */
static bool parse_i64(const char *p, uint32_t len, int64_t *out)
{
    bool neg = len > 0 && p[0] == '-';
    uint32_t i = neg ? 1 : 0;
    if (i == len)
        return false;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t acc = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        uint32_t d = (uint32_t)(p[i] - '0');
        if (acc > (limit - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    *out = neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return true;
}

/* ---- Request handling -------------------------------------------------- */

static bool is_space(char c) { return c == ' '; }

/* Splits off the next space-delimited token; rest is advanced past it. */
static slice_t next_token(slice_t *rest)
{
    while (rest->len && is_space(*rest->p)) {
        rest->p++;
        rest->len--;
    }
    slice_t tok = { rest->p, 0 };
    while (tok.len < rest->len && !is_space(rest->p[tok.len]))
        tok.len++;
    rest->p += tok.len;
    rest->len -= tok.len;
    return tok;
}

static bool token_is(slice_t tok, const char *word)
{
    uint32_t n = strlen(word);
    if (tok.len != n)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        char c = tok.p[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c != word[i])
            return false;
    }
    return true;
}

static bool rest_is_empty(slice_t rest)
{
    return next_token(&rest).len == 0;
}

/* Runs one request whose id has already been split off; appends the text
 * after "<id> " to r. */
static void execute(slice_t rest, reply_t *r)
{
    slice_t cmd = next_token(&rest);
    if (cmd.len == 0) {
        reply_str(r, "ERR malformed request");
        return;
    }

    enum { PUT, GET, DEL, INCR } op;
    if (token_is(cmd, "PUT"))
        op = PUT;
    else if (token_is(cmd, "GET"))
        op = GET;
    else if (token_is(cmd, "DEL"))
        op = DEL;
    else if (token_is(cmd, "INCR"))
        op = INCR;
    else {
        reply_str(r, "ERR unknown command");
        return;
    }

    slice_t key = next_token(&rest);
    if (key.len == 0) {
        reply_str(r, "ERR malformed request");
        return;
    }

    slice_t value = { NULL, 0 };
    if (op == PUT) {
        /* The value is the remainder, spaces included, minus the
         * separator run after the key. */
        while (rest.len && is_space(*rest.p)) {
            rest.p++;
            rest.len--;
        }
        value = rest;
        if (value.len == 0) {
            reply_str(r, "ERR malformed request");
            return;
        }
    } else if (!rest_is_empty(rest)) {
        reply_str(r, "ERR malformed request");
        return;
    }

    if (key.len > MAX_KEY) {
        reply_str(r, "ERR key too long");
        return;
    }
    if (value.len > MAX_VALUE) {
        reply_str(r, "ERR value too long");
        return;
    }

    switch (op) {
    case PUT: {
        entry_t *e = store_upsert(key);
        if (!e) {
            reply_str(r, "ERR store full");
            return;
        }
        memcpy(e->val, value.p, value.len);
        e->val_len = (uint16_t)value.len;
        reply_str(r, "OK");
        return;
    }
    case GET: {
        const entry_t *e = store_get(key);
        if (!e) {
            reply_str(r, "NOTFOUND");
            return;
        }
        reply_str(r, "VALUE ");
        reply_add(r, e->val, e->val_len);
        return;
    }
    case DEL:
        reply_str(r, store_del(key) ? "OK" : "NOTFOUND");
        return;
    case INCR: {
        entry_t *e = store_get(key);
        int64_t n = 0;
        if (e && !parse_i64(e->val, e->val_len, &n)) {
            reply_str(r, "ERR not an integer");
            return;
        }
        if (n == INT64_MAX) {
            reply_str(r, "ERR integer overflow");
            return;
        }
        if (!e && !(e = store_upsert(key))) {
            reply_str(r, "ERR store full");
            return;
        }
        e->val_len = (uint16_t)format_i64(n + 1, e->val);
        reply_add(r, e->val, e->val_len);
        return;
    }
    }
}

static char rx_buf[LS_NET_MAX_PACKET];

static void handle_packet(void)
{
    uint32_t peer;
    int32_t got = net_recv(rx_buf, sizeof rx_buf, &peer);
    if (got < 0)
        return;

    static reply_t r;
    r.len = 0;

    if ((uint32_t)got > sizeof rx_buf) {
        /* Larger than the device's documented maximum; nothing sensible
         * to parse, not even a trustworthy id. */
        reply_str(&r, "- ERR request too long");
        net_send(peer, r.buf, r.len);
        return;
    }

    slice_t req = { rx_buf, (uint32_t)got };
    if (req.len && req.p[req.len - 1] == '\n')
        req.len--;
    if (req.len && req.p[req.len - 1] == '\r')
        req.len--;

    slice_t rest = req;
    slice_t id = next_token(&rest);
    if (id.len == 0 || id.len > MAX_ID) {
        reply_str(&r, id.len ? "- ERR id too long" : "- ERR malformed request");
        net_send(peer, r.buf, r.len);
        return;
    }

    peer_log_t *log = peer_log_for(peer);
    const answer_t *prev = peer_log_find(log, id);
    if (prev) {
        net_send(peer, prev->reply, prev->reply_len);
        return;
    }

    reply_add(&r, id.p, id.len);
    reply_str(&r, " ");
    execute(rest, &r);
    peer_log_add(log, id, r.buf, r.len);
    net_send(peer, r.buf, r.len);
}

/* ---- Interrupts and main loop ----------------------------------------- */

static void on_trap(trap_frame_t *frame)
{
    if (frame->mcause != MCAUSE_MEI)
        trap_unhandled(frame);
    /* Acknowledge by masking the source: MEIP stays asserted while
     * packets are queued, and the main loop drains them and re-arms. */
    net_irq_enable(false);
}

int main(void)
{
    store_init();
    trap_set_handler(on_trap);
    irq_source_enable(MIE_MEIE);
    printf("kv: ready\n");

    for (;;) {
        while (net_rx_count() > 0)
            handle_packet();

        /* Arm, then check-then-sleep with MIE off: a packet arriving after
         * the check still leaves MEIP pending, which wakes wfi. The short
         * MIE window afterwards lets the handler acknowledge it. */
        net_irq_enable(true);
        if (net_rx_count() == 0)
            wfi();
        irq_global_enable();
        irq_global_disable();
    }
}
