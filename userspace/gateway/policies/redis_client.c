// SPDX-License-Identifier: GPL-2.0
/*
 * hiredis's async API on a worker's libh2o loop (see redis_client.h): the adapter (the Redis
 * socket is an h2o socket in "don't read" mode, so hiredis reads and writes it), connection
 * states with reconnect backoff, per-call timeouts, the GCRA script by EVALSHA (EVAL when the
 * server does not know it), and the shared up/down state of each server.
 */
/* Messages name bounded fields; truncation is fine there. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "gateway/policies/auth.h"
#include "gateway/policies/redis_client.h"
#include "lib/log.h"

#define TICK_MS 50
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define TIMEOUTS_TO_RECONNECT 3

/*
 * GCRA on the server's clock. TAT is kept in microseconds as a decimal string (formatted with
 * %.0f: Lua's default number format would round it). The key expires once the bucket is full
 * again, so idle keys cost no memory.
 */
const char redis_gcra_script[] =
	"local T = tonumber(ARGV[1])\n"
	"local burst = tonumber(ARGV[2])\n"
	"local cost = tonumber(ARGV[3])\n"
	"local forced = tonumber(ARGV[4])\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0\n"
	"if tat < now then tat = now end\n"
	"tat = tat + forced * T\n"
	"local allowed = 1\n"
	"if cost > 0 then\n"
	"  local nxt = tat + cost * T\n"
	"  if nxt - now <= burst then tat = nxt else allowed = 0 end\n"
	"end\n"
	"local debt = tat - now\n"
	"if debt > 0 then\n"
	"  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX',\n"
	"             math.floor(debt / 1000) + 1000)\n"
	"end\n"
	"return {allowed, debt}\n";

static char script_sha[41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_init(void)
{
	uint8_t md[20];
	unsigned int n = 0;

	EVP_Digest(redis_gcra_script, strlen(redis_gcra_script), md, &n, EVP_sha1(), NULL);
	for (unsigned i = 0; i < 20; i++)
		sprintf(script_sha + 2 * i, "%02x", md[i]);
}

/* ---- shared server state (logged once per change) ---- */

enum { HEALTH_UNKNOWN, HEALTH_UP, HEALTH_DOWN };

struct redis_health {
	struct redis_health *next;
	char addr[128];
	atomic_int state;
	uint64_t errors, timeouts, calls, overflows;
};

static pthread_mutex_t health_lock = PTHREAD_MUTEX_INITIALIZER;
static struct redis_health *healths;

static struct redis_health *health_get(const char *addr)
{
	struct redis_health *h;

	pthread_mutex_lock(&health_lock);
	for (h = healths; h; h = h->next)
		if (!strcmp(h->addr, addr))
			break;
	if (!h && (h = calloc(1, sizeof(*h)))) {
		snprintf(h->addr, sizeof(h->addr), "%s", addr);
		h->next = healths;
		healths = h;	/* kept for the process's life: a handful per config */
	}
	pthread_mutex_unlock(&health_lock);
	return h;
}

static void health_set(struct redis_health *h, int state, const char *why)
{
	int old = atomic_load(&h->state);

	if (old == state || !atomic_compare_exchange_strong(&h->state, &old, state))
		return;
	if (state == HEALTH_UP)
		log_info("rate-limit: redis %s is up%s", h->addr,
			 old == HEALTH_DOWN ? " again" : "");
	else
		log_warn("rate-limit: redis %s is down: %s", h->addr, why ? why : "unknown error");
}

/* ---- config ---- */

int redis_conf_parse(const json_t *obj, struct redis_conf *c, char *err, size_t errlen)
{
	static const char *const fields[] = { "addr", "password", "db", "timeout_ms", "mode",
					      "batch", "sync_ms", "fail", "prefix",
					      "max_in_flight", NULL };
	json_t *addr = json_object_get(obj, "addr"), *pw = json_object_get(obj, "password");
	json_t *db = json_object_get(obj, "db"), *tmo = json_object_get(obj, "timeout_ms");
	const char *a, *colon;
	const char *key;
	json_t *v;
	uint8_t digest[32];

	memset(c, 0, sizeof(*c));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, ".redis: must be an object {addr, ...}");
		return -EINVAL;
	}
	json_object_foreach((json_t *)obj, key, v) {
		const char *const *f;

		for (f = fields; *f && strcmp(*f, key); f++)
			;
		if (!*f) {
			snprintf(err, errlen, ".redis: unknown field \"%s\" (addr, password, db, "
				 "timeout_ms, max_in_flight, mode, batch, sync_ms, fail, prefix)", key);
			return -EINVAL;
		}
	}
	if (!json_is_string(addr)) {
		snprintf(err, errlen, ".redis.addr: missing (HOST:PORT or unix:/PATH)");
		return -EINVAL;
	}
	a = json_string_value(addr);
	c->addr = strdup(a);
	if (!strncmp(a, "unix:", 5) && a[5] == '/') {
		c->host = strdup(a + 5);
	} else {
		char canon[64];
		int port;

		colon = strrchr(a, ':');
		if (!colon || sscanf(colon + 1, "%d", &port) != 1 || port < 1 || port > 65535 ||
		    (size_t)(colon - a) >= sizeof(canon)) {
			snprintf(err, errlen, ".redis.addr: \"%s\" is not HOST:PORT, [V6]:PORT or "
				 "unix:/PATH", a);
			return -EINVAL;
		}
		if (a[0] == '[' && colon > a + 1 && colon[-1] == ']')
			snprintf(canon, sizeof(canon), "%.*s", (int)(colon - a - 2), a + 1);
		else
			snprintf(canon, sizeof(canon), "%.*s", (int)(colon - a), a);
		{
			unsigned char buf[16];

			if (inet_pton(AF_INET, canon, buf) != 1 && inet_pton(AF_INET6, canon, buf) != 1) {
				snprintf(err, errlen, ".redis.addr: \"%s\": not a numeric address "
					 "(names are not resolved)", a);
				return -EINVAL;
			}
		}
		c->host = strdup(canon);
		c->port = port;
	}
	if (pw && (!json_is_string(pw) || !json_string_length(pw))) {
		snprintf(err, errlen, ".redis.password: must be a non-empty string");
		return -EINVAL;
	}
	if (pw)
		c->password = strdup(json_string_value(pw));
	if (db && (!json_is_integer(db) || json_integer_value(db) < 0 ||
		   json_integer_value(db) > 1023)) {
		snprintf(err, errlen, ".redis.db: must be an integer 0-1023");
		return -EINVAL;
	}
	c->db = db ? (uint32_t)json_integer_value(db) : 0;
	if (tmo && (!json_is_integer(tmo) || json_integer_value(tmo) < 1 ||
		    json_integer_value(tmo) > 10000)) {
		snprintf(err, errlen, ".redis.timeout_ms: must be an integer 1-10000");
		return -EINVAL;
	}
	c->timeout_ms = tmo ? (uint32_t)json_integer_value(tmo) : 100;
	v = json_object_get(obj, "max_in_flight");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > 100000)) {
		snprintf(err, errlen, ".redis.max_in_flight: must be an integer 1-100000");
		return -EINVAL;
	}
	c->max_in_flight = v ? (uint32_t)json_integer_value(v) : REDIS_DEFAULT_MAX_IN_FLIGHT;
	/* One connection per worker and distinct (server, db, credentials, timeout, bound). */
	auth_sha256(c->password ? c->password : "", c->password ? strlen(c->password) : 0,
		    digest);
	snprintf(c->name, sizeof(c->name), "redis:%s/%u/%u/%u/%02x%02x%02x%02x", c->addr, c->db,
		 c->timeout_ms, c->max_in_flight, digest[0], digest[1], digest[2], digest[3]);
	return c->addr && c->host ? 0 : -ENOMEM;
}

void redis_conf_free(struct redis_conf *c)
{
	free(c->addr);
	free(c->host);
	if (c->password) {
		OPENSSL_cleanse(c->password, strlen(c->password));
		free(c->password);
	}
	memset(c, 0, sizeof(*c));
}

/* ---- connections ---- */

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

struct redis_conn {
	h2o_loop_t *loop;
	struct redis_conf conf;	/* own copy: the connection outlives config versions */
	redisAsyncContext *ac;
	enum conn_state state;
	uint64_t next_attempt_ms, connect_deadline_ms;
	uint32_t backoff_ms;
	unsigned timeouts;	/* consecutive */
	unsigned in_flight;	/* ops sent and not yet freed (answered, timed out or not) */
	h2o_timeout_t op_timeout, tick_timeout;
	h2o_timeout_entry_t tick;
	struct redis_health *health;
	bool destroying;
};

struct redis_op {
	struct redis_conn *r;
	h2o_timeout_entry_t tmo;
	redis_gcra_cb cb;
	void *arg;
	bool finished;		/* the caller has its answer (reply, timeout or cancel) */
	bool retried;		/* sent again with EVAL after NOSCRIPT */
	char args[4][24];
	size_t klen;
	char key[];
};

struct adapter {
	redisAsyncContext *ac;
	h2o_socket_t *sock;
};

static void on_sock_read(h2o_socket_t *sock, const char *err)
{
	struct adapter *a = sock->data;

	redisAsyncHandleRead(a->ac);
}

static void on_sock_write(h2o_socket_t *sock, const char *err)
{
	struct adapter *a = sock->data;

	redisAsyncHandleWrite(a->ac);
}

static void ev_add_read(void *p)
{
	struct adapter *a = p;

	h2o_socket_read_start(a->sock, on_sock_read);
}

static void ev_del_read(void *p)
{
	struct adapter *a = p;

	h2o_socket_read_stop(a->sock);
}

static void ev_add_write(void *p)
{
	struct adapter *a = p;

	if (!h2o_socket_is_writing(a->sock))
		h2o_socket_notify_write(a->sock, on_sock_write);
}

static void ev_del_write(void *p)
{
}

static void ev_cleanup(void *p)
{
	struct adapter *a = p;

	h2o_socket_read_stop(a->sock);
	h2o_socket_close(a->sock);
	a->ac->c.fd = -1;	/* h2o closed it; hiredis must not close it again */
	free(a);
}

static int attach(redisAsyncContext *ac, h2o_loop_t *loop)
{
	struct adapter *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->ac = ac;
	a->sock = h2o_evloop_socket_create(loop, ac->c.fd, H2O_SOCKET_FLAG_DONT_READ);
	a->sock->data = a;
	ac->ev.data = a;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	return 0;
}

static uint64_t loop_now(struct redis_conn *r)
{
	return h2o_now(r->loop);
}

static void conn_down(struct redis_conn *r, const char *why)
{
	r->state = CONN_DOWN;
	r->timeouts = 0;
	r->next_attempt_ms = loop_now(r) + r->backoff_ms / 2 + (uint64_t)rand() % (r->backoff_ms / 2 + 1);
	r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
	if (!r->destroying)
		health_set(r->health, HEALTH_DOWN, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct redis_conn *r = ac->data;

	if (!r)
		return;
	if (status != REDIS_OK) {
		r->ac = NULL;	/* hiredis frees it after this callback */
		conn_down(r, ac->errstr);
		return;
	}
	r->state = CONN_UP;
	r->backoff_ms = BACKOFF_MIN_MS;
	health_set(r->health, HEALTH_UP, NULL);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis_conn *r = ac->data;

	if (!r)
		return;
	r->ac = NULL;
	if (r->state != CONN_DOWN)
		conn_down(r, status == REDIS_OK ? "connection closed" : ac->errstr);
}

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rep = reply;
	struct redis_conn *r = ac->data;

	if (r && rep && rep->type == REDIS_REPLY_ERROR) {
		/* AUTH or SELECT refused: calls would fail the same way; count them down. */
		log_warn("rate-limit: redis %s: %s: %s", r->conf.addr, (const char *)priv, rep->str);
		__atomic_fetch_add(&r->health->errors, 1, __ATOMIC_RELAXED);
		redisAsyncDisconnect(ac);
	}
}

static void conn_start(struct redis_conn *r)
{
	redisAsyncContext *ac;

	ac = r->conf.port ? redisAsyncConnect(r->conf.host, r->conf.port)
			  : redisAsyncConnectUnix(r->conf.host);
	if (!ac || ac->err) {
		conn_down(r, ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		return;
	}
	if (attach(ac, r->loop)) {
		redisAsyncFree(ac);
		conn_down(r, "out of memory");
		return;
	}
	ac->data = r;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->ac = ac;
	r->state = CONN_CONNECTING;
	r->connect_deadline_ms = loop_now(r) + r->conf.timeout_ms + 1000;
	/* Pipelined ahead of any call: hiredis sends them once connected. */
	if (r->conf.password)
		redisAsyncCommand(ac, on_setup_reply, "AUTH", "AUTH %s", r->conf.password);
	if (r->conf.db)
		redisAsyncCommand(ac, on_setup_reply, "SELECT", "SELECT %u", r->conf.db);
}

/* Drops the hiredis context: pending calls get their callback with no reply. */
static void conn_drop(struct redis_conn *r, const char *why)
{
	redisAsyncContext *ac = r->ac;

	conn_down(r, why);
	if (ac) {
		r->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
}

static void on_tick(h2o_timeout_entry_t *e)
{
	struct redis_conn *r = H2O_STRUCT_FROM_MEMBER(struct redis_conn, tick, e);
	uint64_t now = loop_now(r);

	if (r->state == CONN_DOWN && now >= r->next_attempt_ms)
		conn_start(r);
	else if (r->state == CONN_CONNECTING && now >= r->connect_deadline_ms)
		conn_drop(r, "connect timed out");
	h2o_timeout_link(r->loop, &r->tick_timeout, &r->tick);
}

static void *conn_create(void *loop, void *arg)
{
	const struct redis_conf *conf = arg;
	struct redis_conn *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = loop;
	r->conf.addr = strdup(conf->addr);
	r->conf.host = strdup(conf->host);
	r->conf.password = conf->password ? strdup(conf->password) : NULL;
	r->conf.port = conf->port;
	r->conf.db = conf->db;
	r->conf.timeout_ms = conf->timeout_ms;
	r->conf.max_in_flight = conf->max_in_flight;
	r->health = health_get(conf->addr);
	if (!r->conf.addr || !r->conf.host || (conf->password && !r->conf.password) || !r->health) {
		redis_conf_free(&r->conf);
		free(r);
		return NULL;
	}
	pthread_once(&sha_once, sha_init);
	h2o_timeout_init(r->loop, &r->op_timeout, r->conf.timeout_ms);
	h2o_timeout_init(r->loop, &r->tick_timeout, TICK_MS);
	r->tick.cb = on_tick;
	h2o_timeout_link(r->loop, &r->tick_timeout, &r->tick);
	r->backoff_ms = BACKOFF_MIN_MS;
	conn_start(r);
	return r;
}

static void conn_destroy(void *p)
{
	struct redis_conn *r = p;

	r->destroying = true;
	if (h2o_timeout_is_linked(&r->tick))
		h2o_timeout_unlink(&r->tick);
	if (r->ac) {
		redisAsyncContext *ac = r->ac;

		r->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);	/* pending calls finish with no reply (and unlink) */
	}
	h2o_timeout_dispose(r->loop, &r->op_timeout);
	h2o_timeout_dispose(r->loop, &r->tick_timeout);
	redis_conf_free(&r->conf);
	free(r);
}

struct redis_conn *redis_conn_get(struct gw_ctx *c, const struct redis_conf *conf)
{
	return gw_ctx_worker_local(c, conf->name, conn_create, conn_destroy, (void *)conf);
}

/* ---- calls ---- */

static void op_finish(struct redis_op *op, int err, bool allowed, uint64_t debt)
{
	if (h2o_timeout_is_linked(&op->tmo))
		h2o_timeout_unlink(&op->tmo);
	if (op->finished)
		return;
	op->finished = true;
	op->cb(op->arg, err, allowed, debt);
}

static int op_send(struct redis_op *op, bool eval);

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct redis_op *op = priv;
	struct redis_conn *r = op->r;
	redisReply *rep = reply;

	if (!rep) {	/* disconnected or freed */
		if (!op->finished)
			__atomic_fetch_add(&r->health->errors, 1, __ATOMIC_RELAXED);
		op_finish(op, -EIO, false, 0);
		r->in_flight--;
		free(op);
		return;
	}
	r->timeouts = 0;
	if (rep->type == REDIS_REPLY_ERROR && !op->retried && !strncmp(rep->str, "NOSCRIPT", 8) &&
	    !op->finished) {
		op->retried = true;
		if (op_send(op, true) == 0)
			return;	/* the same op continues with EVAL */
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[0]->type == REDIS_REPLY_INTEGER &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER) {
		long long debt = rep->element[1]->integer;

		op_finish(op, 0, rep->element[0]->integer == 1, debt > 0 ? (uint64_t)debt : 0);
	} else {
		if (!op->finished) {
			__atomic_fetch_add(&r->health->errors, 1, __ATOMIC_RELAXED);
			log_warn("rate-limit: redis %s: unexpected reply%s%s", r->conf.addr,
				 rep->type == REDIS_REPLY_ERROR ? ": " : "",
				 rep->type == REDIS_REPLY_ERROR ? rep->str : "");
		}
		op_finish(op, -EIO, false, 0);
	}
	r->in_flight--;
	free(op);
}

static void on_op_timeout(h2o_timeout_entry_t *e)
{
	struct redis_op *op = H2O_STRUCT_FROM_MEMBER(struct redis_op, tmo, e);
	struct redis_conn *r = op->r;

	__atomic_fetch_add(&r->health->timeouts, 1, __ATOMIC_RELAXED);
	op_finish(op, -ETIMEDOUT, false, 0);	/* the op is freed when its reply comes */
	if (++r->timeouts >= TIMEOUTS_TO_RECONNECT && r->state != CONN_DOWN)
		conn_drop(r, "calls time out");
}

static int op_send(struct redis_op *op, bool eval)
{
	struct redis_conn *r = op->r;
	const char *argv[7] = { eval ? "EVAL" : "EVALSHA", eval ? redis_gcra_script : script_sha,
				"1", op->key, op->args[0], op->args[1], op->args[2] };
	const char *argv8[8];
	size_t lens[8];

	memcpy(argv8, argv, sizeof(argv));
	argv8[7] = op->args[3];
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv8[i]);
	lens[3] = op->klen;
	if (!r->ac || redisAsyncCommandArgv(r->ac, on_reply, op, 8, argv8, lens) != REDIS_OK)
		return -ENOTCONN;
	return 0;
}

int redis_gcra(struct redis_conn *r, const char *key, size_t klen, uint64_t T, uint64_t burst_us,
	       uint32_t cost, uint32_t forced, redis_gcra_cb cb, void *arg, struct redis_op **opp)
{
	struct redis_op *op;

	if (r->state == CONN_DOWN || !r->ac)
		return -ENOTCONN;
	if (r->in_flight >= r->conf.max_in_flight) {
		__atomic_fetch_add(&r->health->overflows, 1, __ATOMIC_RELAXED);
		return -EBUSY;
	}
	op = calloc(1, sizeof(*op) + klen + 1);
	if (!op)
		return -ENOMEM;
	op->r = r;
	op->cb = cb;
	op->arg = arg;
	op->tmo.cb = on_op_timeout;
	memcpy(op->key, key, klen);
	op->klen = klen;
	snprintf(op->args[0], sizeof(op->args[0]), "%llu", (unsigned long long)T);
	snprintf(op->args[1], sizeof(op->args[1]), "%llu", (unsigned long long)burst_us);
	snprintf(op->args[2], sizeof(op->args[2]), "%u", cost);
	snprintf(op->args[3], sizeof(op->args[3]), "%u", forced);
	if (op_send(op, false)) {
		free(op);
		return -ENOTCONN;
	}
	r->in_flight++;
	__atomic_fetch_add(&r->health->calls, 1, __ATOMIC_RELAXED);
	h2o_timeout_link(r->loop, &r->op_timeout, &op->tmo);
	*opp = op;
	return 0;
}

void redis_op_cancel(struct redis_op *op)
{
	if (h2o_timeout_is_linked(&op->tmo))
		h2o_timeout_unlink(&op->tmo);
	op->finished = true;	/* freed when its reply (or the disconnect) comes */
}

void redis_metrics(FILE *out)
{
	struct redis_health *h;

	pthread_mutex_lock(&health_lock);
	if (healths)
		fprintf(out, "# HELP xdpgw_gateway_redis_up 1 while the rate-limit Redis server "
			     "answers, 0 while it is down.\n# TYPE xdpgw_gateway_redis_up gauge\n");
	for (h = healths; h; h = h->next)
		fprintf(out, "xdpgw_gateway_redis_up{addr=\"%s\"} %d\n", h->addr,
			atomic_load(&h->state) == HEALTH_UP);
	if (healths)
		fprintf(out, "# HELP xdpgw_gateway_redis_calls_total Rate-limit calls to Redis by "
			     "result.\n# TYPE xdpgw_gateway_redis_calls_total counter\n");
	for (h = healths; h; h = h->next)
		fprintf(out,
			"xdpgw_gateway_redis_calls_total{addr=\"%s\",result=\"sent\"} %llu\n"
			"xdpgw_gateway_redis_calls_total{addr=\"%s\",result=\"error\"} %llu\n"
			"xdpgw_gateway_redis_calls_total{addr=\"%s\",result=\"timeout\"} %llu\n"
			"xdpgw_gateway_redis_calls_total{addr=\"%s\",result=\"overflow\"} %llu\n",
			h->addr, (unsigned long long)__atomic_load_n(&h->calls, __ATOMIC_RELAXED),
			h->addr, (unsigned long long)__atomic_load_n(&h->errors, __ATOMIC_RELAXED),
			h->addr, (unsigned long long)__atomic_load_n(&h->timeouts, __ATOMIC_RELAXED),
			h->addr, (unsigned long long)__atomic_load_n(&h->overflows, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&health_lock);
}
