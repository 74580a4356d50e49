/*
 * The benchmark servers of http-servers.mjs, in C: the same addresses, the
 * same answer, the same counts, for a fraction of the CPU (Node's per
 * connection work is about 100 us, which at 20,000 requests a second is the
 * whole machine). bench/healthVsHaproxy.ts compiles it with `cc -O2` when a
 * compiler is there, else uses the Node one.
 *
 * argv: firstPort ports backends net ("127.N"). Backend i listens on
 * NET.(h >> 8).((h & 255) + 1):(firstPort + i % ports), h = i / ports.
 * Each connection: one read, one fixed 200, close. A checker may reset a
 * connection before the answer (after half-closing it: the write fails with
 * EPIPE); SIGPIPE is ignored, so that costs the servers nothing.
 *
 * Requests are counted by checker (the request holds "haproxy": HAProxy's,
 * "maglev": maglevd's, else "other"), with the gap between one checker's
 * consecutive requests to one backend. Commands, one a line on stdin, each
 * answered with one JSON line on stdout (after "ready" once listening):
 *   seen   backends each checker has reached so far, and agoMs: how long
 *          ago each reached the last of them (null: not yet)
 *   start  clear the counts and start counting ({"ok":true})
 *   stop   stop; {"probes":{...},"gaps":{checker:{count,p50,p99,max,over1100}}}
 * It exits when stdin closes (its parent is gone).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CHECKERS = 3, MAGLEVD = 0, HAPROXY = 1, OTHER = 2 };
static const char *names[CHECKERS] = {"maglevd", "haproxy", "other"};

static const char response[] =
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

typedef struct {
  double *values;
  size_t length, capacity;
} Gaps;

static int measuring;
static long probes[CHECKERS];
static long seen[CHECKERS];
static double all_at[CHECKERS]; /* when the last backend was first reached */
static int backends;
static double *last[CHECKERS];
static Gaps gaps[CHECKERS];
/* By connection fd: its backend and when it was accepted. */
static int *conn_backend;
static double *conn_at;

#define KIND_LISTENER 0ULL
#define KIND_CONN 1ULL
#define KIND_STDIN 2ULL
#define TAG(kind, value) (((kind) << 32) | (uint64_t)(uint32_t)(value))

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "benchmark servers: %s %s: %s\n", what, detail, strerror(errno));
  exit(1);
}

static void record(int checker, int backend, double at) {
  double previous = last[checker][backend];
  last[checker][backend] = at;
  if (previous == 0 && ++seen[checker] == backends) all_at[checker] = at;
  if (!measuring) return;
  probes[checker]++;
  if (previous == 0) return;
  Gaps *g = &gaps[checker];
  if (g->length == g->capacity) {
    g->capacity = g->capacity ? g->capacity * 2 : 4096;
    g->values = realloc(g->values, g->capacity * sizeof(double));
    if (!g->values) die("out of memory", "");
  }
  g->values[g->length++] = at - previous;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void print_summary(Gaps *g) {
  qsort(g->values, g->length, sizeof(double), cmp);
  size_t n = g->length, over = 0;
  for (size_t i = 0; i < n; i++) over += g->values[i] > 1100;
#define AT(p) (n ? g->values[(size_t)(n * (p)) < n ? (size_t)(n * (p)) : n - 1] : 0)
  printf("{\"count\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"over1100\":%zu}", n, AT(0.5), AT(0.99),
         n ? g->values[n - 1] : 0, over);
#undef AT
}

static void command(const char *line) {
  if (strcmp(line, "seen") == 0) {
    double now = now_ms();
    printf("{\"maglevd\":%ld,\"haproxy\":%ld,\"other\":%ld,\"agoMs\":{", seen[MAGLEVD], seen[HAPROXY], seen[OTHER]);
    for (int c = 0; c < CHECKERS; c++) {
      if (all_at[c] == 0) printf("%s\"%s\":null", c ? "," : "", names[c]);
      else printf("%s\"%s\":%.3f", c ? "," : "", names[c], now - all_at[c]);
    }
    printf("}}\n");
  } else if (strcmp(line, "start") == 0) {
    for (int c = 0; c < CHECKERS; c++) probes[c] = 0, gaps[c].length = 0;
    measuring = 1;
    printf("{\"ok\":true}\n");
  } else if (strcmp(line, "stop") == 0) {
    measuring = 0;
    printf("{\"probes\":{\"maglevd\":%ld,\"haproxy\":%ld,\"other\":%ld},\"gaps\":{", probes[MAGLEVD], probes[HAPROXY],
           probes[OTHER]);
    for (int c = 0; c < CHECKERS; c++) {
      printf("%s\"%s\":", c ? "," : "", names[c]);
      print_summary(&gaps[c]);
    }
    printf("}}\n");
  } else {
    printf("{\"error\":\"unknown command\"}\n");
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s firstPort ports backends 127.N\n", argv[0]);
    return 2;
  }
  /* A write to a peer that is gone fails with EPIPE instead of killing the process: the
   * connections' sends say so themselves, and so does stdout if the parent stops reading
   * (then stdin's end is the way out). */
  signal(SIGPIPE, SIG_IGN);
  int first_port = atoi(argv[1]), ports = atoi(argv[2]);
  backends = atoi(argv[3]);
  const char *net = argv[4];
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  size_t max_fd = rl.rlim_cur;
  conn_backend = calloc(max_fd, sizeof(int));
  conn_at = calloc(max_fd, sizeof(double));
  for (int c = 0; c < CHECKERS; c++) last[c] = calloc(backends, sizeof(double));

  int *listeners = calloc(backends, sizeof(int));
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1", "");
  struct epoll_event ev = {.events = EPOLLIN};
  for (int i = 0; i < backends; i++) {
    int h = i / ports;
    char host[32];
    snprintf(host, sizeof host, "%s.%d.%d", net, h >> 8, (h & 255) + 1);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(first_port + i % ports)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("bad address", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", host);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
      char where[48];
      snprintf(where, sizeof where, "%s:%d", host, first_port + i % ports);
      die("listen", where);
    }
    listeners[i] = fd;
    ev.data.u64 = TAG(KIND_LISTENER, i);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl", host);
  }
  ev.data.u64 = TAG(KIND_STDIN, 0);
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) die("epoll_ctl", "stdin");
  printf("\"ready\"\n");
  fflush(stdout);

  char input[4096];
  size_t input_length = 0;
  char buf[4096];
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait", "");
    }
    for (int k = 0; k < n; k++) {
      uint64_t kind = events[k].data.u64 >> 32;
      int value = (int)(uint32_t)events[k].data.u64;
      if (kind == KIND_LISTENER) {
        for (;;) {
          int fd = accept4(listeners[value], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break; /* EAGAIN, or out of fds: the backlog keeps it for the next round */
          if ((size_t)fd >= max_fd) {
            close(fd);
            continue;
          }
          conn_backend[fd] = value;
          conn_at[fd] = now_ms();
          ev.data.u64 = TAG(KIND_CONN, fd);
          if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close(fd);
        }
      } else if (kind == KIND_CONN) {
        ssize_t r = read(value, buf, sizeof buf);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r > 0) {
          int checker = memmem(buf, r, "haproxy", 7) ? HAPROXY : memmem(buf, r, "maglev", 6) ? MAGLEVD : OTHER;
          record(checker, conn_backend[value], conn_at[value]);
          /* MSG_NOSIGNAL: a checker that half-closed after its request and then reset the
           * connection (its timeout) makes this write fail with EPIPE, which would otherwise
           * raise SIGPIPE and kill the servers in the middle of a run. */
          ssize_t w = send(value, response, sizeof response - 1, MSG_NOSIGNAL);
          (void)w;
        }
        close(value); /* also leaves the epoll set */
      } else {
        ssize_t r = read(0, input + input_length, sizeof input - 1 - input_length);
        if (r <= 0) return 0; /* the parent is gone */
        input_length += r;
        char *nl;
        while ((nl = memchr(input, '\n', input_length)) != NULL) {
          *nl = 0;
          command(input);
          size_t used = nl + 1 - input;
          memmove(input, nl + 1, input_length - used);
          input_length -= used;
        }
        if (input_length == sizeof input - 1) input_length = 0;
      }
    }
  }
}
