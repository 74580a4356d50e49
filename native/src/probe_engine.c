/*
 * Health-check connections driven straight from libuv: a plain TCP socket per
 * probe (created inside a network namespace when asked), polled with a
 * uv_poll_t on Node's own loop, and its events handed to one JavaScript
 * callback as (id, kind, value). A Node net.Socket costs a stream object, two
 * stream states, a handle wrap and a request wrap per connection, and its
 * reads come through the stream machinery; a probe needs none of it (connect,
 * write a few hundred bytes, read a short reply, reset). TLS probes keep
 * Node's sockets (tls.connect needs one).
 *
 * Included by vppmaglev_native.c (it uses that file's argument helpers).
 *
 * JavaScript side: src/health/probes/internal/NativeSocket.ts.
 *   probeInit(callback)                       one callback for every event
 *   probeOpen(id, family, address, port, localAddress|null, netnsPath|null)
 *                                             socket, bind, non-blocking connect; throws a
 *                                             system error (syscall socket/setns/bind/connect)
 *   probeWrite(id, data)                      sends now, or the rest when the socket is writable
 *   probeClose(id, reset)                     closes (with an RST when reset); no event after it
 *   probePending(id)                          -1 before the connect completed, else bytes unread
 * Events: kind 1 connected, 2 data (value: Buffer), 3 end (the peer closed),
 * 4 error (value: errno, positive; connect errors before kind 1).
 */
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <uv.h>

enum { PE_CONNECTED = 1, PE_DATA = 2, PE_END = 3, PE_ERROR = 4 };

#define PE_READ_CHUNK 65536
/* Reads per readable event before yielding to the loop: one reply is rarely more than one. */
#define PE_READS_PER_EVENT 4

struct probe_engine;

typedef struct probe_conn {
  uv_poll_t poll;
  int fd;
  uint32_t id;
  int connected;
  int closed;
  int events;
  char *pending;
  size_t pending_len;
  size_t pending_off;
  struct probe_engine *eng;
} probe_conn;

typedef struct probe_engine {
  napi_env env;
  napi_ref callback;
  napi_ref receiver;
  napi_async_context ctx;
  uv_loop_t *loop;
  probe_conn **conns;
  uint32_t cap;
  /* Handles uv_close'd whose close callback has not run yet. */
  uint32_t closing;
  /* Set while the environment tears down: removed once nothing is left closing. */
  napi_async_cleanup_hook_handle teardown;
  char buf[PE_READ_CHUNK];
} probe_engine;

static void probe_on_close(uv_handle_t *h);

/*
 * One engine per Node environment (the main thread and each worker thread has
 * its own: src/health/probes/ProbeThreads.ts), kept as the environment's
 * instance data; a process-wide one would hand one thread's sockets and
 * callbacks to another's loop.
 */
static probe_engine *engine_of(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

/* Closes a connection's handle; its memory goes when libuv says the handle is closed. */
static void probe_close_conn(probe_engine *e, probe_conn *c) {
  c->closed = 1;
  e->conns[c->id] = NULL;
  e->closing++;
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, probe_on_close);
}

/*
 * The environment is going away (its thread stops, or the process exits):
 * close what is open, and tell Node the cleanup is over once libuv has
 * closed every handle (its loop cannot close before).
 */
static void probe_engine_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  probe_engine *e = arg;
  for (uint32_t i = 0; i < e->cap; i++) {
    if (e->conns[i] != NULL) probe_close_conn(e, e->conns[i]);
  }
  if (e->closing == 0) napi_remove_async_cleanup_hook(handle);
  else e->teardown = handle;
}

static void probe_engine_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  probe_engine *e = data;
  free(e->conns);
  free(e);
}

static void probe_emit(probe_engine *e, probe_conn *c, int kind, int err, const char *data, size_t len) {
  napi_env env = e->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[3], result;
  if (napi_get_reference_value(env, e->callback, &cb) == napi_ok &&
      napi_get_reference_value(env, e->receiver, &recv) == napi_ok &&
      napi_create_uint32(env, c->id, &argv[0]) == napi_ok && napi_create_int32(env, kind, &argv[1]) == napi_ok &&
      (kind == PE_DATA ? napi_create_buffer_copy(env, len, data, NULL, &argv[2])
                       : napi_create_int32(env, err, &argv[2])) == napi_ok) {
    napi_status st = napi_make_callback(env, e->ctx, recv, cb, 3, argv, &result);
    if (st == napi_pending_exception) {
      napi_value ex;
      if (napi_get_and_clear_last_exception(env, &ex) == napi_ok) napi_fatal_exception(env, ex);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void probe_on_poll(uv_poll_t *h, int status, int events);

static void probe_watch(probe_conn *c, int events) {
  if (c->events == events) return;
  c->events = events;
  if (events == 0) uv_poll_stop(&c->poll);
  else uv_poll_start(&c->poll, events, probe_on_poll);
}

/*
 * Sends what is pending; returns 0, or an errno. A peer that has closed
 * (EPIPE, ECONNRESET) is not an error of the write: what is left is dropped,
 * and reading says what the peer did (a reply, a close, a reset), as an
 * HTTP client reads a server's answer to a request it could not finish sending.
 */
static int probe_flush(probe_conn *c) {
  while (c->pending_off < c->pending_len) {
    ssize_t n = send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EPIPE || errno == ECONNRESET) break;
      return errno;
    }
    c->pending_off += (size_t)n;
  }
  free(c->pending);
  c->pending = NULL;
  c->pending_len = c->pending_off = 0;
  return 0;
}

/*
 * The connection failed with `err`. EPIPE on a connected socket is the kernel's
 * word for a reset that came after the peer's FIN (tcp_reset in CLOSE_WAIT):
 * the peer closed, which is what Node reports as the end of the stream.
 */
static void probe_fail(probe_conn *c, int err) {
  probe_watch(c, 0);
  if (c->connected && err == EPIPE) probe_emit(c->eng, c, PE_END, 0, NULL, 0);
  else probe_emit(c->eng, c, PE_ERROR, err, NULL, 0);
}

static void probe_on_poll(uv_poll_t *h, int status, int events) {
  probe_conn *c = h->data;
  probe_engine *e = c->eng;
  if (c->closed) return;
  if (!c->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0 && status < 0) err = -status;
    if (err != 0) return probe_fail(c, err);
    c->connected = 1;
    probe_watch(c, UV_READABLE | (c->pending != NULL ? UV_WRITABLE : 0));
    probe_emit(e, c, PE_CONNECTED, 0, NULL, 0);
    return;
  }
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF (and stops the handle): the socket's own error says what happened. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    c->events = 0;
    if (err == 0) return probe_emit(e, c, PE_END, 0, NULL, 0);
    return probe_fail(c, err);
  }
  if ((events & UV_WRITABLE) && c->pending != NULL) {
    int err = probe_flush(c);
    if (err != 0) return probe_fail(c, err);
    if (c->pending == NULL) probe_watch(c, UV_READABLE);
  }
  if (!(events & (UV_READABLE | UV_DISCONNECT))) return;
  for (int i = 0; i < PE_READS_PER_EVENT && !c->closed; i++) {
    ssize_t n = recv(c->fd, e->buf, sizeof e->buf, MSG_DONTWAIT);
    if (n > 0) {
      probe_emit(e, c, PE_DATA, 0, e->buf, (size_t)n);
      continue;
    }
    if (n == 0) {
      probe_watch(c, 0);
      probe_emit(e, c, PE_END, 0, NULL, 0);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return probe_fail(c, errno);
  }
}

static void probe_on_close(uv_handle_t *h) {
  probe_conn *c = h->data;
  probe_engine *e = c->eng;
  close(c->fd);
  free(c->pending);
  free(c);
  if (--e->closing == 0 && e->teardown != NULL) {
    napi_async_cleanup_hook_handle handle = e->teardown;
    e->teardown = NULL;
    napi_remove_async_cleanup_hook(handle);
  }
}

static probe_conn *probe_get(napi_env env, napi_value v) {
  double id;
  if (get_double_int(env, v, "id", &id) != 0) return NULL;
  probe_engine *e = engine_of(env);
  if (e == NULL || id < 0 || id >= e->cap || e->conns[(uint32_t)id] == NULL) {
    throw_range(env, "The \"%s\" argument is not an open probe connection", "id");
    return NULL;
  }
  return e->conns[(uint32_t)id];
}

static napi_value js_probe_init(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
    throw_type(env, "The \"%s\" argument must be a function", "callback");
    return NULL;
  }
  probe_engine *e = engine_of(env);
  if (e == NULL) {
    e = calloc(1, sizeof *e);
    if (e == NULL) {
      throw_errno(env, ENOMEM, "probeInit", NULL, NULL);
      return NULL;
    }
    napi_value resource, name;
    NAPI_CALL(env, napi_get_uv_event_loop(env, &e->loop));
    NAPI_CALL(env, napi_create_object(env, &resource));
    NAPI_CALL(env, napi_create_string_utf8(env, "vppmaglev:probe", NAPI_AUTO_LENGTH, &name));
    NAPI_CALL(env, napi_async_init(env, resource, name, &e->ctx));
    NAPI_CALL(env, napi_create_reference(env, resource, 1, &e->receiver));
    e->env = env;
    NAPI_CALL(env, napi_set_instance_data(env, e, probe_engine_free, NULL));
    NAPI_CALL(env, napi_add_async_cleanup_hook(env, probe_engine_cleanup, e, NULL));
  } else {
    napi_delete_reference(env, e->callback);
  }
  NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &e->callback));
  return NULL;
}

/* A system error like Node's for a connection: "connect ECONNREFUSED 192.0.2.1:80". */
static void throw_conn_errno(napi_env env, int err, const char *syscall, const char *address, size_t port) {
  char where[192];
  snprintf(where, sizeof where, "%s:%zu", address, port);
  throw_errno(env, err, syscall, "address", where);
}

static napi_value js_probe_open(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (get_args(env, info, 6, argv) != 0) return NULL;
  probe_engine *e = engine_of(env);
  if (e == NULL) {
    napi_throw_error(env, "ERR_INVALID_STATE", "probeInit was not called");
    return NULL;
  }
  double idd;
  int fam;
  size_t port;
  if (get_double_int(env, argv[0], "id", &idd) != 0) return NULL;
  if (idd < 0 || idd > 0xffffff) {
    throw_range(env, "The \"%s\" argument is out of range", "id");
    return NULL;
  }
  uint32_t id = (uint32_t)idd;
  if (id < e->cap && e->conns[id] != NULL) {
    throw_range(env, "The \"%s\" argument is a probe connection already open", "id");
    return NULL;
  }
  if (get_family(env, argv[1], &fam) != 0) return NULL;
  struct sockaddr_storage ss, local;
  socklen_t sslen, locallen = 0;
  char text[128], localtext[128];
  if (parse_address(env, argv[2], &ss, &sslen, text, sizeof text, "connect") != 0) return NULL;
  if (get_size(env, argv[3], "port", &port) != 0) return NULL;
  if (port > 65535) {
    throw_range(env, "The \"%s\" argument must be a port number", "port");
    return NULL;
  }
  if ((fam == 4) != (ss.ss_family == AF_INET)) {
    throw_conn_errno(env, EAFNOSUPPORT, "connect", text, port);
    return NULL;
  }
  int has_local = !is_nullish(env, argv[4]);
  if (has_local && parse_address(env, argv[4], &local, &locallen, localtext, sizeof localtext, "bind") != 0) return NULL;

  if (id >= e->cap) {
    uint32_t cap = e->cap == 0 ? 1024 : e->cap;
    while (cap <= id) cap *= 2;
    probe_conn **conns = realloc(e->conns, cap * sizeof *conns);
    if (conns == NULL) {
      throw_errno(env, ENOMEM, "probeOpen", NULL, NULL);
      return NULL;
    }
    memset(conns + e->cap, 0, (cap - e->cap) * sizeof *conns);
    e->conns = conns;
    e->cap = cap;
  }

  napi_value fdv = socket_in_netns(env, argv[5], fam == 4 ? AF_INET : AF_INET6, SOCK_STREAM, IPPROTO_TCP);
  if (fdv == NULL) return NULL;
  int32_t fd;
  NAPI_CALL(env, napi_get_value_int32(env, fdv, &fd));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (has_local && bind(fd, (struct sockaddr *)&local, locallen) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind", "address", localtext);
    return NULL;
  }
  if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
  int rc;
  do rc = connect(fd, (struct sockaddr *)&ss, sslen);
  while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    throw_conn_errno(env, err, "connect", text, port);
    return NULL;
  }
  probe_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    close(fd);
    throw_errno(env, ENOMEM, "probeOpen", NULL, NULL);
    return NULL;
  }
  c->fd = fd;
  c->id = id;
  c->eng = e;
  int uerr = uv_poll_init_socket(e->loop, &c->poll, fd);
  if (uerr != 0) {
    close(fd);
    free(c);
    throw_errno(env, -uerr, "uv_poll_init", NULL, NULL);
    return NULL;
  }
  c->poll.data = c;
  e->conns[id] = c;
  probe_watch(c, UV_WRITABLE);
  return NULL;
}

static napi_value js_probe_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  probe_conn *c = probe_get(env, argv[0]);
  if (c == NULL) return NULL;
  void *data;
  size_t len;
  if (get_bytes(env, argv[1], "data", &data, &len) != 0) return NULL;
  size_t old = c->pending_len - c->pending_off;
  char *p = malloc(old + len);
  if (p == NULL && old + len > 0) {
    throw_errno(env, ENOMEM, "write", NULL, NULL);
    return NULL;
  }
  if (old > 0) memcpy(p, c->pending + c->pending_off, old);
  memcpy(p + old, data, len);
  free(c->pending);
  c->pending = p;
  c->pending_len = old + len;
  c->pending_off = 0;
  if (!c->connected) return NULL;
  int err = probe_flush(c);
  if (err != 0) {
    throw_errno(env, err, "write", NULL, NULL);
    return NULL;
  }
  if (c->pending != NULL) probe_watch(c, c->events | UV_WRITABLE);
  return NULL;
}

/*
 * What the kernel holds for a connection now, without reading it: -1 while the
 * connect has not completed, else the bytes received and not yet read
 * (SIOCINQ). At a probe's deadline this tells our lateness from the
 * backend's: an answer already waiting came in time, unread.
 */
static napi_value js_probe_pending(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  probe_conn *c = probe_get(env, argv[0]);
  if (c == NULL) return NULL;
  int n = -1;
  struct sockaddr_storage peer;
  socklen_t len = sizeof peer;
  if (getpeername(c->fd, (struct sockaddr *)&peer, &len) == 0) {
    int bytes = 0;
    n = ioctl(c->fd, SIOCINQ, &bytes) == 0 ? bytes : 0;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_int32(env, n, &out));
  return out;
}

static napi_value js_probe_close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  probe_conn *c = probe_get(env, argv[0]);
  if (c == NULL) return NULL;
  bool reset = false;
  if (!is_nullish(env, argv[1]) && get_bool(env, argv[1], "reset", &reset) != 0) return NULL;
  if (reset) {
    struct linger l = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  probe_close_conn(c->eng, c);
  return NULL;
}
