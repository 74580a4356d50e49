/*
 * vppmaglev_native: the few Linux system calls vpp-maglev needs and Node has
 * no API for.
 *
 *   - AF_UNIX SOCK_SEQPACKET sockets (VPP's stats socket) with file
 *     descriptors passed as SCM_RIGHTS ancillary data;
 *   - shared memory: memfd_create, ftruncate, fstat size, mmap of an fd into
 *     an ArrayBuffer that aliases the mapping (read-only PROT_READ|MAP_SHARED
 *     for readers), munmap, close;
 *   - ICMP echo sockets (SOCK_DGRAM or SOCK_RAW) and TCP sockets, optionally
 *     created inside a network namespace given by path (setns(2) around
 *     socket(2)), with bind, non-blocking sendto/recvfrom and the socket's
 *     error queue (IP_RECVERR / IPV6_RECVERR: ICMP errors a ping socket got).
 *
 * Every call is synchronous and never blocks: sockets are created
 * SOCK_NONBLOCK and every send/receive/accept uses MSG_DONTWAIT, so "nothing
 * yet" comes back as null (accept, recv) for the caller to poll on a timer.
 * Failures throw a JS Error carrying `code` (errno name, e.g. "ENOENT"),
 * `errno` (negative, as Node does), `syscall` and, where one applies, `path`
 * or `address`.
 *
 * Plain C on Node-API (NAPI_VERSION 8): one binary works on every Node >= 16.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <limits.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <linux/icmp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>

#define MAX_FDS_PER_MESSAGE 253 /* SCM_MAX_FD in the kernel */
#define MAX_SAFE_INTEGER 9007199254740991.0

/* ------------------------------------------------------------------ */
/* errors                                                             */
/* ------------------------------------------------------------------ */

static const char *errno_name(int err) {
  switch (err) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC)
    E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY)
    E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE)
    E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS)
    E(EMLINK) E(EPIPE) E(EDOM) E(ERANGE) E(EDEADLK) E(ENAMETOOLONG) E(ENOLCK)
    E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(ENOMSG) E(EOVERFLOW) E(ENOTSOCK)
    E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE) E(ENOPROTOOPT)
    E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(EOPNOTSUPP) E(EPFNOSUPPORT)
    E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH)
    E(ENETRESET) E(ECONNABORTED) E(ECONNRESET) E(ENOBUFS) E(EISCONN)
    E(ENOTCONN) E(ESHUTDOWN) E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN)
    E(EHOSTUNREACH) E(EALREADY) E(EINPROGRESS)
#undef E
    default: return NULL;
  }
}

/* Throws an Error like Node's system errors: "connect ENOENT /run/x.sock". */
static void throw_errno(napi_env env, int err, const char *syscall, const char *path_key,
                        const char *path) {
  char codebuf[32];
  const char *code = errno_name(err);
  if (code == NULL) {
    snprintf(codebuf, sizeof codebuf, "E%d", err);
    code = codebuf;
  }
  char msg[4096 + 256];
  if (path != NULL)
    snprintf(msg, sizeof msg, "%s %s %s: %s", syscall, code, path, strerror(err));
  else
    snprintf(msg, sizeof msg, "%s %s: %s", syscall, code, strerror(err));

  napi_value vcode, vmsg, error, v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &vcode) != napi_ok) return;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &vmsg) != napi_ok) return;
  if (napi_create_error(env, vcode, vmsg, &error) != napi_ok) return;
  if (napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (path != NULL && napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, path_key, v);
  napi_throw(env, error);
}

static void throw_type(napi_env env, const char *fmt, const char *name) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, name);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

static void throw_range(napi_env env, const char *fmt, const char *name) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, name);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}

/* A failed napi_* call: throw its message unless an exception is pending. */
static void throw_napi(napi_env env, napi_status status) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  const char *msg = (info != NULL && info->error_message != NULL) ? info->error_message
                                                                   : "Node-API call failed";
  napi_throw_error(env, "ERR_NAPI", msg);
}

#define NAPI_CALL(env, call)                                                                    \
  do {                                                                                          \
    napi_status status_ = (call);                                                               \
    if (status_ != napi_ok) {                                                                   \
      throw_napi((env), status_);                                                               \
      return NULL;                                                                              \
    }                                                                                           \
  } while (0)

/* ------------------------------------------------------------------ */
/* argument helpers: each returns 0 on success, -1 with a JS exception */
/* ------------------------------------------------------------------ */

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_status st = napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (st != napi_ok) {
    throw_napi(env, st);
    return -1;
  }
  /* Missing arguments read as undefined. */
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return 0;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  return t == napi_undefined || t == napi_null;
}

static int get_double_int(napi_env env, napi_value v, const char *name, double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    throw_type(env, "The \"%s\" argument must be a number", name);
    return -1;
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (d != d || d < 0 || d > MAX_SAFE_INTEGER || d != (double)(int64_t)d) {
    throw_range(env, "The \"%s\" argument must be a non-negative integer", name);
    return -1;
  }
  *out = d;
  return 0;
}

static int get_fd(napi_env env, napi_value v, const char *name, int *out) {
  double d;
  if (get_double_int(env, v, name, &d) != 0) return -1;
  if (d > INT_MAX) {
    throw_range(env, "The \"%s\" argument is not a file descriptor", name);
    return -1;
  }
  *out = (int)d;
  return 0;
}

static int get_size(napi_env env, napi_value v, const char *name, size_t *out) {
  double d;
  if (get_double_int(env, v, name, &d) != 0) return -1;
  *out = (size_t)d;
  return 0;
}

static int get_bool(napi_env env, napi_value v, const char *name, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) {
    throw_type(env, "The \"%s\" argument must be a boolean", name);
    return -1;
  }
  napi_get_value_bool(env, v, out);
  return 0;
}

/* UTF-8 string into buf (NUL-terminated); ENAMETOOLONG if it does not fit. */
static int get_string(napi_env env, napi_value v, const char *name, char *buf, size_t cap,
                      const char *syscall) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    throw_type(env, "The \"%s\" argument must be a string", name);
    return -1;
  }
  size_t len = 0;
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  if (len + 1 > cap) {
    throw_errno(env, ENAMETOOLONG, syscall, NULL, NULL);
    return -1;
  }
  napi_get_value_string_utf8(env, v, buf, cap, &len);
  if (strlen(buf) != len) {
    throw_type(env, "The \"%s\" argument must not contain NUL bytes", name);
    return -1;
  }
  return 0;
}

/* Bytes of a Buffer / TypedArray / DataView / ArrayBuffer. */
static int get_bytes(napi_env env, napi_value v, const char *name, void **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset);
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *len = length * elem;
    return 0;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    napi_get_dataview_info(env, v, len, data, &ab, &offset);
    return 0;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    napi_get_arraybuffer_info(env, v, data, len);
    return 0;
  }
  throw_type(env, "The \"%s\" argument must be a Buffer, TypedArray, DataView or ArrayBuffer",
             name);
  return -1;
}

static int fill_sockaddr_un(napi_env env, napi_value v, struct sockaddr_un *sa, socklen_t *salen,
                            char *path, const char *syscall) {
  if (get_string(env, v, "path", path, PATH_MAX, syscall) != 0) return -1;
  size_t n = strlen(path);
  if (n == 0) {
    throw_errno(env, EINVAL, syscall, "path", path);
    return -1;
  }
  if (n >= sizeof sa->sun_path) {
    throw_errno(env, ENAMETOOLONG, syscall, "path", path);
    return -1;
  }
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, n + 1);
  *salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return 0;
}

static napi_value make_int(napi_env env, int64_t n) {
  napi_value v;
  NAPI_CALL(env, napi_create_int64(env, n, &v));
  return v;
}

static napi_value make_null(napi_env env) {
  napi_value v;
  NAPI_CALL(env, napi_get_null(env, &v));
  return v;
}

/* ------------------------------------------------------------------ */
/* AF_UNIX SOCK_SEQPACKET                                             */
/* ------------------------------------------------------------------ */

/* seqpacketListen(path, backlog): fd. Removes a stale socket at path first. */
static napi_value js_seqpacket_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  char path[PATH_MAX];
  struct sockaddr_un sa;
  socklen_t salen;
  if (fill_sockaddr_un(env, argv[0], &sa, &salen, path, "bind") != 0) return NULL;
  size_t backlog = 16;
  if (!is_nullish(env, argv[1]) && get_size(env, argv[1], "backlog", &backlog) != 0) return NULL;
  if (backlog > INT_MAX) backlog = INT_MAX;

  /* Only ever remove a socket: never a regular file someone put there. */
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path) != 0 && errno != ENOENT) {
    throw_errno(env, errno, "unlink", "path", path);
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL, NULL);
    return NULL;
  }
  if (bind(fd, (struct sockaddr *)&sa, salen) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "bind", "path", path);
    return NULL;
  }
  if (listen(fd, (int)backlog) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, err, "listen", "path", path);
    return NULL;
  }
  return make_int(env, fd);
}

/* seqpacketAccept(listenFd): fd of the accepted connection, or null if none pending. */
static napi_value js_seqpacket_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  int lfd;
  if (get_fd(env, argv[0], "fd", &lfd) != 0) return NULL;
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return make_int(env, fd);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) return make_null(env);
    throw_errno(env, errno, "accept", NULL, NULL);
    return NULL;
  }
}

/* seqpacketConnect(path): fd (non-blocking). Local connect completes at once. */
static napi_value js_seqpacket_connect(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  char path[PATH_MAX];
  struct sockaddr_un sa;
  socklen_t salen;
  if (fill_sockaddr_un(env, argv[0], &sa, &salen, path, "connect") != 0) return NULL;
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket", NULL, NULL);
    return NULL;
  }
  int rc;
  do rc = connect(fd, (struct sockaddr *)&sa, salen);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    /* EAGAIN here means the listener's backlog is full. */
    int err = errno;
    close(fd);
    throw_errno(env, err, "connect", "path", path);
    return NULL;
  }
  return make_int(env, fd);
}

/* sendWithFds(fd, data, fds): bytes sent. One message, fds as SCM_RIGHTS. */
static napi_value js_send_with_fds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) != 0) return NULL;
  int fd;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  void *data = NULL;
  size_t len = 0;
  if (get_bytes(env, argv[1], "data", &data, &len) != 0) return NULL;

  int fds[MAX_FDS_PER_MESSAGE];
  uint32_t nfds = 0;
  if (!is_nullish(env, argv[2])) {
    bool is_array = false;
    napi_is_array(env, argv[2], &is_array);
    if (!is_array) {
      throw_type(env, "The \"%s\" argument must be an array of file descriptors", "fds");
      return NULL;
    }
    NAPI_CALL(env, napi_get_array_length(env, argv[2], &nfds));
    if (nfds > MAX_FDS_PER_MESSAGE) {
      throw_range(env, "The \"%s\" argument holds too many file descriptors", "fds");
      return NULL;
    }
    for (uint32_t i = 0; i < nfds; i++) {
      napi_value el;
      NAPI_CALL(env, napi_get_element(env, argv[2], i, &el));
      if (get_fd(env, el, "fds[i]", &fds[i]) != 0) return NULL;
    }
  }

  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  char *control = NULL;
  if (nfds > 0) {
    size_t clen = CMSG_SPACE(sizeof(int) * nfds);
    control = calloc(1, clen);
    if (control == NULL) {
      throw_errno(env, ENOMEM, "sendmsg", NULL, NULL);
      return NULL;
    }
    msg.msg_control = control;
    msg.msg_controllen = clen;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  int err = errno;
  free(control);
  if (n < 0) {
    throw_errno(env, err, "sendmsg", NULL, NULL);
    return NULL;
  }
  return make_int(env, n);
}

/*
 * recvWithFds(fd, maxBytes, maxFds):
 *   null when nothing is pending (EAGAIN), else
 *   { data: Buffer, fds: number[], truncated: boolean, controlTruncated: boolean }.
 * On a SOCK_SEQPACKET socket a message of 0 bytes without fds is end of stream.
 * Received fds are close-on-exec; the caller owns (and must close) them all.
 */
static napi_value js_recv_with_fds(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) != 0) return NULL;
  int fd;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  size_t max_bytes = 65536, max_fds = 16;
  if (!is_nullish(env, argv[1]) && get_size(env, argv[1], "maxBytes", &max_bytes) != 0) return NULL;
  if (!is_nullish(env, argv[2]) && get_size(env, argv[2], "maxFds", &max_fds) != 0) return NULL;
  if (max_bytes > (64u << 20)) max_bytes = 64u << 20;
  if (max_fds > MAX_FDS_PER_MESSAGE) max_fds = MAX_FDS_PER_MESSAGE;

  char *buf = malloc(max_bytes > 0 ? max_bytes : 1);
  size_t clen = CMSG_SPACE(sizeof(int) * (max_fds > 0 ? max_fds : 1));
  char *control = calloc(1, clen);
  if (buf == NULL || control == NULL) {
    free(buf);
    free(control);
    throw_errno(env, ENOMEM, "recvmsg", NULL, NULL);
    return NULL;
  }
  struct iovec iov = {.iov_base = buf, .iov_len = max_bytes};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = clen;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    free(buf);
    free(control);
    if (err == EAGAIN || err == EWOULDBLOCK) return make_null(env);
    throw_errno(env, err, "recvmsg", NULL, NULL);
    return NULL;
  }

  /* Collect every fd first, so none leaks whatever happens next. */
  int got[MAX_FDS_PER_MESSAGE + 8];
  size_t ngot = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int rfd;
      memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (ngot < sizeof got / sizeof got[0]) got[ngot++] = rfd;
      else close(rfd);
    }
  }
  free(control);

  napi_value result, vdata, vfds, v;
  napi_status st = napi_create_object(env, &result);
  if (st == napi_ok) st = napi_create_buffer_copy(env, (size_t)n, buf, NULL, &vdata);
  if (st == napi_ok) st = napi_set_named_property(env, result, "data", vdata);
  if (st == napi_ok) st = napi_create_array_with_length(env, ngot, &vfds);
  for (size_t i = 0; st == napi_ok && i < ngot; i++) {
    st = napi_create_int32(env, got[i], &v);
    if (st == napi_ok) st = napi_set_element(env, vfds, (uint32_t)i, v);
  }
  if (st == napi_ok) st = napi_set_named_property(env, result, "fds", vfds);
  if (st == napi_ok) st = napi_get_boolean(env, (msg.msg_flags & MSG_TRUNC) != 0, &v);
  if (st == napi_ok) st = napi_set_named_property(env, result, "truncated", v);
  if (st == napi_ok) st = napi_get_boolean(env, (msg.msg_flags & MSG_CTRUNC) != 0, &v);
  if (st == napi_ok) st = napi_set_named_property(env, result, "controlTruncated", v);
  free(buf);
  if (st != napi_ok) {
    for (size_t i = 0; i < ngot; i++) close(got[i]);
    throw_napi(env, st);
    return NULL;
  }
  return result;
}

/* ------------------------------------------------------------------ */
/* fds and shared memory                                              */
/* ------------------------------------------------------------------ */

/* close(fd): undefined. EBADF is thrown; EINTR is not retried (Linux closes anyway). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  int fd;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (close(fd) != 0 && errno != EINTR) {
    throw_errno(env, errno, "close", NULL, NULL);
    return NULL;
  }
  return NULL;
}

/* memfdCreate(name): fd (MFD_CLOEXEC | MFD_ALLOW_SEALING), size 0. */
static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  char name[250];
  if (get_string(env, argv[0], "name", name, sizeof name, "memfd_create") != 0) return NULL;
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    throw_errno(env, errno, "memfd_create", "path", name);
    return NULL;
  }
  return make_int(env, fd);
}

/* ftruncate(fd, size): undefined. */
static napi_value js_ftruncate(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  int fd;
  size_t size;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (get_size(env, argv[1], "size", &size) != 0) return NULL;
  int rc;
  do rc = ftruncate(fd, (off_t)size);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    throw_errno(env, errno, "ftruncate", NULL, NULL);
    return NULL;
  }
  return NULL;
}

/* fstatSize(fd): st_size. */
static napi_value js_fstat_size(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  int fd;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    throw_errno(env, errno, "fstat", NULL, NULL);
    return NULL;
  }
  return make_int(env, (int64_t)st.st_size);
}

/*
 * Live mappings, so that munmap(arrayBuffer) can find its own mapping and
 * the GC finalizer knows whether it was already unmapped. A record is
 * unlinked on munmap and freed by the finalizer, which always runs last.
 */
typedef struct mapping {
  void *addr;
  size_t len;
  int unmapped;
  struct mapping *next;
} mapping;

static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping *mappings = NULL;

static void unlink_mapping_locked(mapping *m) {
  for (mapping **p = &mappings; *p != NULL; p = &(*p)->next) {
    if (*p == m) {
      *p = m->next;
      return;
    }
  }
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  mapping *m = hint;
  pthread_mutex_lock(&mappings_lock);
  if (!m->unmapped) {
    munmap(m->addr, m->len);
    m->unmapped = 1;
    unlink_mapping_locked(m);
  }
  pthread_mutex_unlock(&mappings_lock);
  free(m);
}

/*
 * mmap(fd, length, writable, offset): ArrayBuffer aliasing a MAP_SHARED
 * mapping; PROT_READ only unless writable. The mapping lives until munmap()
 * or until the ArrayBuffer is garbage-collected.
 */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (get_args(env, info, 4, argv) != 0) return NULL;
  int fd;
  size_t len, offset = 0;
  bool writable = false;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (get_size(env, argv[1], "length", &len) != 0) return NULL;
  if (!is_nullish(env, argv[2]) && get_bool(env, argv[2], "writable", &writable) != 0) return NULL;
  if (!is_nullish(env, argv[3]) && get_size(env, argv[3], "offset", &offset) != 0) return NULL;
  if (len == 0) {
    throw_errno(env, EINVAL, "mmap", NULL, NULL);
    return NULL;
  }
  mapping *m = calloc(1, sizeof *m);
  if (m == NULL) {
    throw_errno(env, ENOMEM, "mmap", NULL, NULL);
    return NULL;
  }
  int prot = writable ? (PROT_READ | PROT_WRITE) : PROT_READ;
  void *addr = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)offset);
  if (addr == MAP_FAILED) {
    int err = errno;
    free(m);
    throw_errno(env, err, "mmap", NULL, NULL);
    return NULL;
  }
  m->addr = addr;
  m->len = len;
  pthread_mutex_lock(&mappings_lock);
  m->next = mappings;
  mappings = m;
  pthread_mutex_unlock(&mappings_lock);

  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, addr, len, finalize_mapping, m, &ab);
  if (st != napi_ok) {
    pthread_mutex_lock(&mappings_lock);
    unlink_mapping_locked(m);
    pthread_mutex_unlock(&mappings_lock);
    munmap(addr, len);
    free(m);
    throw_napi(env, st);
    return NULL;
  }
  return ab;
}

/*
 * munmap(arrayBuffer): true if this call unmapped it; false if it was already
 * unmapped (or is not a mapping made by mmap()). The ArrayBuffer is detached
 * first, so no view can touch the unmapped memory afterwards.
 */
static napi_value js_munmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  bool is = false;
  if (napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is) {
    throw_type(env, "The \"%s\" argument must be an ArrayBuffer returned by mmap()", "buffer");
    return NULL;
  }
  napi_value vfalse, vtrue;
  NAPI_CALL(env, napi_get_boolean(env, false, &vfalse));
  NAPI_CALL(env, napi_get_boolean(env, true, &vtrue));
  bool detached = false;
  NAPI_CALL(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (detached) return vfalse;
  void *data = NULL;
  size_t len = 0;
  NAPI_CALL(env, napi_get_arraybuffer_info(env, argv[0], &data, &len));

  pthread_mutex_lock(&mappings_lock);
  mapping *m = mappings;
  while (m != NULL && !(m->addr == data && m->len == len)) m = m->next;
  if (m == NULL) {
    pthread_mutex_unlock(&mappings_lock);
    return vfalse;
  }
  napi_status st = napi_detach_arraybuffer(env, argv[0]);
  if (st != napi_ok) {
    pthread_mutex_unlock(&mappings_lock);
    throw_napi(env, st);
    return NULL;
  }
  munmap(m->addr, m->len);
  m->unmapped = 1;
  unlink_mapping_locked(m);
  pthread_mutex_unlock(&mappings_lock);
  return vtrue;
}

/* ------------------------------------------------------------------ */
/* ICMP sockets and network namespaces                                */
/* ------------------------------------------------------------------ */

/*
 * Enter the network namespace at path on this thread; *saved gets an fd of
 * the namespace we came from. Returns 0, or -1 with a JS exception.
 */
static int netns_enter(napi_env env, const char *path, int *saved) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    throw_errno(env, errno, "open", "path", "/proc/thread-self/ns/net");
    return -1;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(self);
    throw_errno(env, err, "open", "path", path);
    return -1;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(self);
    throw_errno(env, err, "setns", "path", path);
    return -1;
  }
  close(target);
  *saved = self;
  return 0;
}

static void netns_leave(int saved) {
  if (setns(saved, CLONE_NEWNET) != 0) {
    /* Node's main thread would stay in the wrong namespace: nothing sane left. */
    napi_fatal_error("vppmaglev_native", NAPI_AUTO_LENGTH,
                     "setns back to the original network namespace failed", NAPI_AUTO_LENGTH);
  }
  close(saved);
}

/* The "family" argument: 4 or 6. */
static int get_family(napi_env env, napi_value v, int *family) {
  double fam;
  if (get_double_int(env, v, "family", &fam) != 0) return -1;
  if (fam != 4 && fam != 6) {
    throw_range(env, "The \"%s\" argument must be 4 or 6", "family");
    return -1;
  }
  *family = (int)fam;
  return 0;
}

/*
 * socket(2) inside the network namespace named by `ns_arg` (a path; null or
 * undefined = the current one): setns there and back around the call.
 */
static napi_value socket_in_netns(napi_env env, napi_value ns_arg, int domain, int type, int proto) {
  char path[PATH_MAX];
  int has_ns = !is_nullish(env, ns_arg);
  if (has_ns && get_string(env, ns_arg, "netnsPath", path, sizeof path, "setns") != 0) return NULL;
  int saved = -1;
  if (has_ns && netns_enter(env, path, &saved) != 0) return NULL;
  int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  int err = errno;
  if (has_ns) netns_leave(saved);
  if (fd < 0) {
    throw_errno(env, err, "socket", NULL, NULL);
    return NULL;
  }
  return make_int(env, fd);
}

/*
 * icmpSocket(family, raw, netnsPath): fd of a non-blocking ICMP (family 4)
 * or ICMPv6 (family 6) socket, SOCK_RAW if raw else SOCK_DGRAM ("ping
 * socket", allowed by net.ipv4.ping_group_range). With netnsPath (e.g.
 * /var/run/netns/NAME) the socket is created inside that namespace and stays
 * bound to it; the calling thread returns to its own namespace before this
 * returns.
 */
static napi_value js_icmp_socket(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) != 0) return NULL;
  int fam;
  bool raw = false;
  if (get_family(env, argv[0], &fam) != 0) return NULL;
  if (get_bool(env, argv[1], "raw", &raw) != 0) return NULL;
  return socket_in_netns(env, argv[2], fam == 4 ? AF_INET : AF_INET6, raw ? SOCK_RAW : SOCK_DGRAM,
                         fam == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
}

/* Parse "192.0.2.1", "2001:db8::1" or "fe80::1%eth0". */
static int parse_address(napi_env env, napi_value v, struct sockaddr_storage *ss, socklen_t *sslen,
                         char *text, size_t cap, const char *syscall) {
  if (get_string(env, v, "address", text, cap, syscall) != 0) return -1;
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    *sslen = sizeof *in4;
    return 0;
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  char host[128];
  if (strlen(text) >= sizeof host) {
    throw_errno(env, EINVAL, syscall, "address", text);
    return -1;
  }
  snprintf(host, sizeof host, "%s", text);
  char *pct = strchr(host, '%');
  if (pct != NULL) *pct = '\0';
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    if (pct != NULL) {
      unsigned idx = if_nametoindex(pct + 1);
      if (idx == 0) {
        char *end = NULL;
        unsigned long n = strtoul(pct + 1, &end, 10);
        if (end == pct + 1 || *end != '\0') {
          throw_errno(env, ENXIO, syscall, "address", text);
          return -1;
        }
        idx = (unsigned)n;
      }
      in6->sin6_scope_id = idx;
    }
    *sslen = sizeof *in6;
    return 0;
  }
  throw_errno(env, EINVAL, syscall, "address", text);
  return -1;
}

/* sendTo(fd, address, data): bytes sent. Non-blocking: EAGAIN is thrown. */
static napi_value js_send_to(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) != 0) return NULL;
  int fd;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  struct sockaddr_storage ss;
  socklen_t sslen;
  char text[128];
  if (parse_address(env, argv[1], &ss, &sslen, text, sizeof text, "sendto") != 0) return NULL;
  void *data;
  size_t len;
  if (get_bytes(env, argv[2], "data", &data, &len) != 0) return NULL;
  ssize_t n;
  do n = sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ss, sslen);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    throw_errno(env, errno, "sendto", "address", text);
    return NULL;
  }
  return make_int(env, n);
}

/* recvFrom(fd, maxBytes): { data: Buffer, address: string } or null (EAGAIN). */
static napi_value js_recv_from(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  int fd;
  size_t max_bytes = 65536;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (!is_nullish(env, argv[1]) && get_size(env, argv[1], "maxBytes", &max_bytes) != 0) return NULL;
  if (max_bytes > 65536) max_bytes = 65536;
  char buf[65536];
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof ss;
  memset(&ss, 0, sizeof ss);
  ssize_t n;
  do n = recvfrom(fd, buf, max_bytes, MSG_DONTWAIT, (struct sockaddr *)&ss, &sslen);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_null(env);
    throw_errno(env, errno, "recvfrom", NULL, NULL);
    return NULL;
  }
  char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = "";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
    if (in6->sin6_scope_id != 0) {
      size_t l = strlen(addr);
      snprintf(addr + l, sizeof addr - l, "%%%u", (unsigned)in6->sin6_scope_id);
    }
  }
  napi_value result, v;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_buffer_copy(env, (size_t)n, buf, NULL, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "data", v));
  NAPI_CALL(env, napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "address", v));
  return result;
}

/*
 * tcpSocket(family, netnsPath): fd of a fresh, unconnected, non-blocking
 * SOCK_STREAM socket (AF_INET for 4, AF_INET6 for 6), created inside the
 * network namespace at netnsPath when given. A socket belongs to the
 * namespace it was created in for its whole life, so the caller can bind and
 * connect it later from its own namespace (libuv's uv_tcp_open + connect).
 */
static napi_value js_tcp_socket(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  int fam;
  if (get_family(env, argv[0], &fam) != 0) return NULL;
  return socket_in_netns(env, argv[1], fam == 4 ? AF_INET : AF_INET6, SOCK_STREAM, IPPROTO_TCP);
}

/* bind(fd, address, port): undefined. The source address of an ICMP or TCP socket. */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) != 0) return NULL;
  int fd;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  struct sockaddr_storage ss;
  socklen_t sslen;
  char text[128];
  if (parse_address(env, argv[1], &ss, &sslen, text, sizeof text, "bind") != 0) return NULL;
  size_t port = 0;
  if (!is_nullish(env, argv[2]) && get_size(env, argv[2], "port", &port) != 0) return NULL;
  if (port > 65535) {
    throw_range(env, "The \"%s\" argument must be a port number", "port");
    return NULL;
  }
  if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
  else ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
  if (bind(fd, (struct sockaddr *)&ss, sslen) != 0) {
    throw_errno(env, errno, "bind", "address", text);
    return NULL;
  }
  return NULL;
}

/*
 * enableRecvErr(fd, family): undefined. Sets IP_RECVERR (4) or IPV6_RECVERR
 * (6): ICMP errors for what the socket sent are queued on its error queue,
 * read by recvErr(). A ping (SOCK_DGRAM ICMP) socket gets ICMP errors no other
 * way that says which echo they answer.
 */
static napi_value js_enable_recv_err(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  int fd;
  double fam;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (get_double_int(env, argv[1], "family", &fam) != 0) return NULL;
  if (fam != 4 && fam != 6) {
    throw_range(env, "The \"%s\" argument must be 4 or 6", "family");
    return NULL;
  }
  int on = 1;
  int rc = fam == 4 ? setsockopt(fd, SOL_IP, IP_RECVERR, &on, sizeof on)
                    : setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof on);
  if (rc != 0) {
    throw_errno(env, errno, "setsockopt", NULL, NULL);
    return NULL;
  }
  return NULL;
}

static void format_sockaddr(const struct sockaddr_storage *ss, char *addr, size_t cap) {
  addr[0] = '\0';
  if (ss->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, addr, cap);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, addr, cap);
    if (in6->sin6_scope_id != 0) {
      size_t l = strlen(addr);
      snprintf(addr + l, cap - l, "%%%u", (unsigned)in6->sin6_scope_id);
    }
  }
}

/*
 * recvErr(fd, maxBytes): one entry of the socket's error queue
 * (recvmsg MSG_ERRQUEUE), or null when it is empty:
 *   { data: Buffer    -- what the error quotes of our packet (for a ping
 *                        socket: our echo request from its ICMP header on),
 *     address: string -- the destination our packet was sent to,
 *     offender: string -- who reported the error ("" if unknown),
 *     code: string    -- errno name, e.g. "EHOSTUNREACH",
 *     origin: number  -- SO_EE_ORIGIN_* (1 local, 2 ICMP, 3 ICMPv6),
 *     icmpType: number, icmpCode: number }
 */
static napi_value js_recv_err(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  int fd;
  size_t max_bytes = 2048;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (!is_nullish(env, argv[1]) && get_size(env, argv[1], "maxBytes", &max_bytes) != 0) return NULL;
  char buf[2048];
  if (max_bytes > sizeof buf) max_bytes = sizeof buf;
  char control[512];
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct iovec iov = {.iov_base = buf, .iov_len = max_bytes};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &ss;
  msg.msg_namelen = sizeof ss;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_null(env);
    throw_errno(env, errno, "recvmsg", NULL, NULL);
    return NULL;
  }
  struct sock_extended_err *ee = NULL;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
        (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
      ee = (struct sock_extended_err *)CMSG_DATA(c);
      break;
    }
  }
  char addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  char offender[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = "";
  format_sockaddr(&ss, addr, sizeof addr);
  const char *code = "";
  char codebuf[32];
  int origin = 0, type = 0, icode = 0;
  if (ee != NULL) {
    struct sockaddr_storage off;
    memset(&off, 0, sizeof off);
    const struct sockaddr *o = SO_EE_OFFENDER(ee);
    if (o->sa_family == AF_INET) memcpy(&off, o, sizeof(struct sockaddr_in));
    else if (o->sa_family == AF_INET6) memcpy(&off, o, sizeof(struct sockaddr_in6));
    format_sockaddr(&off, offender, sizeof offender);
    code = errno_name((int)ee->ee_errno);
    if (code == NULL) {
      snprintf(codebuf, sizeof codebuf, "E%u", (unsigned)ee->ee_errno);
      code = codebuf;
    }
    origin = ee->ee_origin;
    type = ee->ee_type;
    icode = ee->ee_code;
  }
  napi_value result, v;
  NAPI_CALL(env, napi_create_object(env, &result));
  NAPI_CALL(env, napi_create_buffer_copy(env, (size_t)n, buf, NULL, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "data", v));
  NAPI_CALL(env, napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "address", v));
  NAPI_CALL(env, napi_create_string_utf8(env, offender, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "offender", v));
  NAPI_CALL(env, napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "code", v));
  NAPI_CALL(env, napi_create_int32(env, origin, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "origin", v));
  NAPI_CALL(env, napi_create_int32(env, type, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "icmpType", v));
  NAPI_CALL(env, napi_create_int32(env, icode, &v));
  NAPI_CALL(env, napi_set_named_property(env, result, "icmpCode", v));
  return result;
}

/*
 * setReceiveBuffer(fd, bytes): the size the kernel granted (SO_RCVBUF as
 * read back, i.e. doubled for bookkeeping). Tries SO_RCVBUFFORCE first (no
 * net.core.rmem_max cap, needs CAP_NET_ADMIN), then SO_RCVBUF.
 */
static napi_value js_set_receive_buffer(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  int fd;
  size_t bytes;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (get_size(env, argv[1], "bytes", &bytes) != 0) return NULL;
  int n = bytes > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)bytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof n) != 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n) != 0) {
    throw_errno(env, errno, "setsockopt", NULL, NULL);
    return NULL;
  }
  int got = 0;
  socklen_t len = sizeof got;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) != 0) {
    throw_errno(env, errno, "getsockopt", NULL, NULL);
    return NULL;
  }
  return make_int(env, got);
}

/*
 * setIcmpFilter(fd, family, types): undefined. On a raw ICMP (ICMP_FILTER) or
 * ICMPv6 (ICMP6_FILTER) socket, receive only messages of these types: a raw
 * socket otherwise gets a copy of every ICMP message of its namespace.
 */
static napi_value js_set_icmp_filter(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) != 0) return NULL;
  int fd;
  double fam;
  if (get_fd(env, argv[0], "fd", &fd) != 0) return NULL;
  if (get_double_int(env, argv[1], "family", &fam) != 0) return NULL;
  if (fam != 4 && fam != 6) {
    throw_range(env, "The \"%s\" argument must be 4 or 6", "family");
    return NULL;
  }
  bool is_array = false;
  napi_is_array(env, argv[2], &is_array);
  if (!is_array) {
    throw_type(env, "The \"%s\" argument must be an array of ICMP types", "types");
    return NULL;
  }
  uint32_t n = 0;
  NAPI_CALL(env, napi_get_array_length(env, argv[2], &n));
  struct icmp_filter f4;
  struct icmp6_filter f6;
  f4.data = ~0u; /* a set bit blocks that type (types 0..31 only) */
  ICMP6_FILTER_SETBLOCKALL(&f6);
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    NAPI_CALL(env, napi_get_element(env, argv[2], i, &el));
    size_t type;
    if (get_size(env, el, "types[i]", &type) != 0) return NULL;
    if (type > (fam == 4 ? 31u : 255u)) {
      throw_range(env, "The \"%s\" argument holds a type out of range", "types");
      return NULL;
    }
    if (fam == 4) f4.data &= ~(1u << type);
    else ICMP6_FILTER_SETPASS((int)type, &f6);
  }
  int rc = fam == 4 ? setsockopt(fd, SOL_RAW, ICMP_FILTER, &f4, sizeof f4)
                    : setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof f6);
  if (rc != 0) {
    throw_errno(env, errno, "setsockopt", NULL, NULL);
    return NULL;
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* glibc malloc: settings, trim, statistics                           */
/* ------------------------------------------------------------------ */

/*
 * mallocSetting(name, value): whether malloc took it. mallopt(3) for three
 * settings: "arena-max" (M_ARENA_MAX), "mmap-threshold" (M_MMAP_THRESHOLD:
 * fixed, which also stops glibc's dynamic threshold), "trim-threshold"
 * (M_TRIM_THRESHOLD). Nothing in maglevd sets them today (docs/health.md,
 * "Scale": tried and dropped); kept for the next measurement. False where
 * the C library is not glibc (nothing to set).
 */
static napi_value js_malloc_setting(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  char name[32];
  if (get_string(env, argv[0], "name", name, sizeof name, "mallopt") != 0) return NULL;
  double value;
  if (get_double_int(env, argv[1], "value", &value) != 0) return NULL;
  if (value > INT_MAX) {
    throw_range(env, "The \"%s\" argument must be at most 2^31 - 1", "value");
    return NULL;
  }
  int param;
  if (strcmp(name, "arena-max") == 0) param = M_ARENA_MAX;
  else if (strcmp(name, "mmap-threshold") == 0) param = M_MMAP_THRESHOLD;
  else if (strcmp(name, "trim-threshold") == 0) param = M_TRIM_THRESHOLD;
  else {
    throw_range(env, "The \"%s\" argument must be arena-max, mmap-threshold or trim-threshold", "name");
    return NULL;
  }
  napi_value ok;
#ifdef __GLIBC__
  NAPI_CALL(env, napi_get_boolean(env, mallopt(param, (int)value) == 1, &ok));
#else
  (void)param;
  NAPI_CALL(env, napi_get_boolean(env, false, &ok));
#endif
  return ok;
}

/* mallocTrim(pad): malloc_trim(3), whether it gave memory back to the system. */
static napi_value js_malloc_trim(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  size_t pad;
  if (get_size(env, argv[0], "pad", &pad) != 0) return NULL;
  napi_value released;
#ifdef __GLIBC__
  NAPI_CALL(env, napi_get_boolean(env, malloc_trim(pad) == 1, &released));
#else
  NAPI_CALL(env, napi_get_boolean(env, false, &released));
#endif
  return released;
}

/*
 * mallocInfo(): mallinfo2(3), every arena added up, in bytes: { arena (from
 * the system, in arenas), mmapped (hblkhd: blocks mmapped on their own),
 * mmappedBlocks (hblks), inUse (uordblks), free (fordblks), topFree
 * (keepcost: what trimming the main arena could release) }; null where the
 * C library has no mallinfo2 (glibc < 2.33, musl).
 */
static napi_value js_malloc_info(napi_env env, napi_callback_info info) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  napi_value o;
  NAPI_CALL(env, napi_create_object(env, &o));
  const struct {
    const char *name;
    size_t value;
  } fields[] = {
      {"arena", mi.arena},     {"mmapped", mi.hblkhd}, {"mmappedBlocks", mi.hblks},
      {"inUse", mi.uordblks},  {"free", mi.fordblks},  {"topFree", mi.keepcost},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    napi_value v;
    NAPI_CALL(env, napi_create_double(env, (double)fields[i].value, &v));
    NAPI_CALL(env, napi_set_named_property(env, o, fields[i].name, v));
  }
  return o;
#else
  return make_null(env);
#endif
}

/*
 * discardPages(arrayBuffer): madvise(MADV_DONTNEED) over the whole pages
 * inside the buffer's memory (its first and last partial pages, which malloc
 * may share with its own headers or another block, are left alone): their
 * contents are dropped and their memory goes back to the system until they
 * are written again, when they come back zeroed (a page fault each). For a
 * buffer whose contents are no longer wanted but which is kept to be written
 * into again: the scrape worker's last body between scrapes. The bytes
 * discarded (0 for a buffer under a page, a detached one, or a failure).
 */
static napi_value js_discard_pages(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  bool is_buffer = false;
  NAPI_CALL(env, napi_is_arraybuffer(env, argv[0], &is_buffer));
  if (!is_buffer) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"buffer\" argument must be an ArrayBuffer");
    return NULL;
  }
  void *data = NULL;
  size_t length = 0;
  NAPI_CALL(env, napi_get_arraybuffer_info(env, argv[0], &data, &length));
  long page = sysconf(_SC_PAGESIZE);
  double discarded = 0;
  if (data != NULL && page > 0) {
    uintptr_t start = ((uintptr_t)data + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t end = ((uintptr_t)data + length) & ~((uintptr_t)page - 1);
    if (end > start && madvise((void *)start, end - start, MADV_DONTNEED) == 0) discarded = (double)(end - start);
  }
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, discarded, &out));
  return out;
}

/* ------------------------------------------------------------------ */
/* the scheduler's time slice (EEVDF)                                  */
/* ------------------------------------------------------------------ */

/*
 * sched_attr as the kernel reads it (include/uapi/linux/sched/types.h); glibc
 * has no wrapper for sched_setattr/sched_getattr, so they are called through
 * syscall(2). SCHED_ATTR_SIZE_VER1 (56 bytes, with the utilization clamps).
 */
struct vm_sched_attr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

static int get_tid(napi_env env, napi_value v, pid_t *out) {
  double d;
  if (get_double_int(env, v, "tid", &d) != 0) return -1;
  if (d > INT_MAX) {
    throw_range(env, "The \"%s\" argument is not a thread id", "tid");
    return -1;
  }
  *out = (pid_t)d;
  return 0;
}

/* sched_getattr(2) of a thread into *a: 0, or -1 with a system error thrown. */
static int read_sched_attr(napi_env env, pid_t tid, struct vm_sched_attr *a) {
  memset(a, 0, sizeof *a);
  if (syscall(SYS_sched_getattr, tid, a, (unsigned)sizeof *a, 0u) == 0) return 0;
  throw_errno(env, errno, "sched_getattr", NULL, NULL);
  return -1;
}

/* The thread's slice in ns (sched_runtime) as a number, or NULL with an exception. */
static napi_value sched_slice_of(napi_env env, pid_t tid) {
  struct vm_sched_attr a;
  if (read_sched_attr(env, tid, &a) != 0) return NULL;
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, (double)a.sched_runtime, &out));
  return out;
}

/*
 * schedSlice(tid): the thread's time slice in ns as sched_getattr(2) reports
 * it (sched_runtime): under EEVDF (Linux 6.6 on) its current slice, the
 * kernel's base slice unless one was asked for; 0 on older kernels, which
 * report none. tid 0: the calling thread. Throws a system error
 * (ESRCH: no such thread).
 */
static napi_value js_sched_slice(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) != 0) return NULL;
  pid_t tid;
  if (get_tid(env, argv[0], &tid) != 0) return NULL;
  return sched_slice_of(env, tid);
}

/*
 * setSchedSlice(tid, ns): asks the kernel for a time slice of `ns` for the
 * thread (tid 0: the calling one), keeping its policy and nice value:
 * sched_setattr(2) with sched_runtime, which EEVDF (Linux 6.12 on) takes as
 * the thread's own slice, clamped to 0.1-100 ms (kernel/sched/syscalls.c,
 * __setscheduler_params); 0 gives the thread the kernel's base slice back.
 * A shorter slice is no larger share of the CPU: the thread's virtual
 * deadline comes sooner, so it gets a core sooner when it wakes, in shorter
 * turns. No privilege is needed for a thread of one's own user. Only for
 * SCHED_OTHER and SCHED_BATCH threads (a real-time one is left alone:
 * EINVAL). Returns the slice the thread has afterwards (schedSlice): what
 * was asked for (clamped) where the kernel has custom slices, else not (older
 * kernels accept the call and ignore the runtime). Throws a system error.
 */
static napi_value js_set_sched_slice(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) != 0) return NULL;
  pid_t tid;
  if (get_tid(env, argv[0], &tid) != 0) return NULL;
  double ns;
  if (get_double_int(env, argv[1], "ns", &ns) != 0) return NULL;
  struct vm_sched_attr a;
  if (read_sched_attr(env, tid, &a) != 0) return NULL;
  if (a.sched_policy != SCHED_OTHER && a.sched_policy != SCHED_BATCH) {
    throw_errno(env, EINVAL, "sched_setattr", NULL, NULL);
    return NULL;
  }
  a.size = sizeof a;
  a.sched_flags = 0;
  a.sched_runtime = (uint64_t)ns;
  a.sched_deadline = 0;
  a.sched_period = 0;
  if (syscall(SYS_sched_setattr, tid, &a, 0u) != 0) {
    throw_errno(env, errno, "sched_setattr", NULL, NULL);
    return NULL;
  }
  return sched_slice_of(env, tid);
}

#include "probe_engine.c"

/* ------------------------------------------------------------------ */
/* module                                                             */
/* ------------------------------------------------------------------ */

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"seqpacketListen", js_seqpacket_listen},
      {"seqpacketAccept", js_seqpacket_accept},
      {"seqpacketConnect", js_seqpacket_connect},
      {"sendWithFds", js_send_with_fds},
      {"recvWithFds", js_recv_with_fds},
      {"close", js_close},
      {"memfdCreate", js_memfd_create},
      {"ftruncate", js_ftruncate},
      {"fstatSize", js_fstat_size},
      {"mmap", js_mmap},
      {"munmap", js_munmap},
      {"icmpSocket", js_icmp_socket},
      {"sendTo", js_send_to},
      {"recvFrom", js_recv_from},
      {"tcpSocket", js_tcp_socket},
      {"bind", js_bind},
      {"enableRecvErr", js_enable_recv_err},
      {"recvErr", js_recv_err},
      {"setReceiveBuffer", js_set_receive_buffer},
      {"setIcmpFilter", js_set_icmp_filter},
      {"probeInit", js_probe_init},
      {"probeOpen", js_probe_open},
      {"probeWrite", js_probe_write},
      {"probeClose", js_probe_close},
      {"probePending", js_probe_pending},
      {"mallocSetting", js_malloc_setting},
      {"mallocTrim", js_malloc_trim},
      {"mallocInfo", js_malloc_info},
      {"discardPages", js_discard_pages},
      {"schedSlice", js_sched_slice},
      {"setSchedSlice", js_set_sched_slice},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn) != napi_ok)
      return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
