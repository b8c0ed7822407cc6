/*
 * fdpass: hand file descriptors to an unrelated process with SCM_RIGHTS over an
 * AF_UNIX SOCK_SEQPACKET socket (mosnd hot upgrade). Linux only, plain Node-API.
 *
 * Rules kept everywhere below:
 *  - every fd created or received here is close-on-exec; sockets are non-blocking;
 *  - nothing blocks: a call that would block returns -1 or null (EAGAIN) and the
 *    caller waits for readiness with a poll handle (pollOpen/pollSet/pollClose);
 *  - a received fd is either returned to JS (which then owns it) or closed here.
 *
 * Readiness uses a uv_poll_t on Node's own loop (napi_get_uv_event_loop) rather
 * than poll(2) on the libuv threadpool: epoll tells us exactly when the socket
 * is ready, in the same loop iteration, with no thread; a threadpool wait would
 * hold one of the 4 shared worker threads (fs, dns, crypto) per waiting channel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#define MAX_FDS 253                        /* SCM_MAX_FD: the kernel refuses more per message */
#define MAX_RECV_BYTES (16 * 1024 * 1024)  /* sanity bound; the JS layer asks for 64 KiB */
#define FD_MAX 0x7fffffff

/* ---------- values, errors and arguments ---------- */

static napi_value num(napi_env env, int v) { napi_value out; napi_create_int32(env, v, &out); return out; }
static napi_value str(napi_env env, const char *s) { napi_value out; napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out); return out; }
static napi_value boolean(napi_env env, bool b) { napi_value out; napi_get_boolean(env, b, &out); return out; }
static napi_value null_value(napi_env env) { napi_value out; napi_get_null(env, &out); return out; }

/* Throws Error{code:'ECONNREFUSED', errno:-111, syscall:'connect'} like Node's own errors. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  const char *name = uv_err_name(-err); /* libuv's codes are negated errnos on Unix */
  char text[160];
  napi_value error;
  snprintf(text, sizeof text, "%s %s (%s)", syscall, name, strerror(err));
  napi_create_error(env, str(env, name), str(env, text), &error);
  napi_set_named_property(env, error, "errno", num(env, -err));
  napi_set_named_property(env, error, "syscall", str(env, syscall));
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_arg(napi_env env, bool range, const char *text) {
  if (range) napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text);
  else napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", text);
  return NULL;
}

/* Reads an integer in [min, max] into *out, or throws a RangeError and returns false. */
static bool get_int(napi_env env, napi_value v, const char *what, int min, int max, int *out) {
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok && d == (double)(int64_t)d && d >= min && d <= max) {
    *out = (int)d;
    return true;
  }
  char text[96];
  snprintf(text, sizeof text, "%s must be an integer from %d to %d", what, min, max);
  throw_arg(env, true, text);
  return false;
}

/* Missing arguments read as undefined (napi_get_cb_info fills the rest of argv). */
#define ARGS(n)           \
  napi_value argv[n];     \
  size_t argc = n;        \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)
#define FD_ARG(i, name) \
  int name;             \
  if (!get_int(env, argv[i], #name, 0, FD_MAX, &name)) return NULL

/* ---------- SEQPACKET sockets ---------- */

/*
 * seqpacketListen(path, backlog) and seqpacketConnect(path) -> fd. An existing
 * file at path gives EADDRINUSE; a full backlog gives EAGAIN (AF_UNIX never
 * answers EINPROGRESS) and the caller retries.
 */
static napi_value seqpacket_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  void *listening;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t len = 0;
  int backlog = 0, fd;
  napi_get_cb_info(env, info, NULL, NULL, NULL, &listening);
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0)
    return throw_arg(env, false, "path must be a non-empty string");
  if (len >= sizeof sa.sun_path) return throw_errno(env, listening ? "bind" : "connect", ENAMETOOLONG);
  napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof sa.sun_path, &len);
  if (listening && !get_int(env, argv[1], "backlog", 1, 65535, &backlog)) return NULL;
  if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) return throw_errno(env, "socket", errno);
  const char *failed = NULL;
  if (!listening) failed = connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? "connect" : NULL;
  else failed = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? "bind" : listen(fd, backlog) < 0 ? "listen" : NULL;
  if (failed == NULL) return num(env, fd);
  int err = errno;
  close(fd);
  return throw_errno(env, failed, err);
}

/* accept(fd) -> fd | -1 when no peer is waiting. */
static napi_value accept_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) return num(env, c);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return num(env, -1);
    if (errno != EINTR && errno != ECONNABORTED) return throw_errno(env, "accept", errno);
  }
}

/* ---------- one datagram (systemd's notify socket) ---------- */

/*
 * datagramSend(path, data) -> bytes sent. One AF_UNIX SOCK_DGRAM datagram to path,
 * from a socket opened and closed here (sd_notify(3) does the same). A path that
 * starts with '@' names the abstract namespace, as in $NOTIFY_SOCKET. MSG_DONTWAIT:
 * the master's loop never blocks on a full receiver; that gives EAGAIN instead.
 */
static napi_value datagram_send(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  char path[sizeof sa.sun_path + 1];
  size_t len = 0;
  void *data = NULL;
  size_t data_len = 0;
  bool is_buffer = false;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0)
    return throw_arg(env, false, "path must be a non-empty string");
  if (len >= sizeof path) return throw_errno(env, "sendto", ENAMETOOLONG); /* > sun_path either way */
  napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len);
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer) return throw_arg(env, false, "data must be a Buffer");
  napi_get_buffer_info(env, argv[1], &data, &data_len);
  socklen_t sa_len;
  if (path[0] == '@') { /* abstract: a leading NUL, no terminating one */
    sa.sun_path[0] = '\0';
    memcpy(sa.sun_path + 1, path + 1, len - 1);
    sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  } else {
    if (len >= sizeof sa.sun_path) return throw_errno(env, "sendto", ENAMETOOLONG);
    memcpy(sa.sun_path, path, len);
    sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  ssize_t n;
  do n = sendto(fd, data, data_len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  return n < 0 ? throw_errno(env, "sendto", err) : num(env, (int)n);
}

/* ---------- messages with SCM_RIGHTS ---------- */

typedef union { /* aligned room for one SCM_RIGHTS header and MAX_FDS ints */
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
} control_t;

/* send(fd, data, fds) -> bytes sent | -1 when the peer's queue is full. The kernel dups the fds. */
static napi_value send_msg(napi_env env, napi_callback_info info) {
  ARGS(3);
  FD_ARG(0, fd);
  bool is_buffer = false, is_array = false;
  void *data;
  size_t len;
  uint32_t nfds = 0;
  int fds[MAX_FDS];
  control_t control;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer) return throw_arg(env, false, "data must be a Buffer");
  napi_get_buffer_info(env, argv[1], &data, &len);
  if (len == 0) return throw_arg(env, true, "data must not be empty: a zero-length SEQPACKET message reads as end of stream");
  napi_is_array(env, argv[2], &is_array);
  if (is_array) napi_get_array_length(env, argv[2], &nfds);
  if (nfds > MAX_FDS) {
    char text[160];
    snprintf(text, sizeof text, "cannot send %u fds in one message: the kernel limit is %d (SCM_MAX_FD), send them in batches", nfds, MAX_FDS);
    return throw_arg(env, true, text);
  }
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    if (!get_int(env, v, "fds[i]", 0, FD_MAX, &fds[i])) return NULL;
  }
  struct iovec iov = { data, len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (nfds > 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  for (;;) {
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return num(env, (int)n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return num(env, -1);
    if (errno != EINTR) return throw_errno(env, "sendmsg", errno);
  }
}

/*
 * recv(fd, maxBytes, maxFds = 253) -> { data, fds, truncated } | null when nothing is queued.
 * truncated: longer than maxBytes (MSG_TRUNC, the rest is lost; its fds are returned)
 * or more fds than maxFds (MSG_CTRUNC: the kernel closed the excess, we close those
 * that arrived, fds is empty). End of stream: empty data, no fds.
 */
static napi_value recv_msg(napi_env env, napi_callback_info info) {
  ARGS(3);
  FD_ARG(0, fd);
  int max_bytes, max_fds = MAX_FDS, fds[MAX_FDS + 1], nfds = 0, seen = 0;
  napi_valuetype t;
  if (!get_int(env, argv[1], "maxBytes", 1, MAX_RECV_BYTES, &max_bytes)) return NULL;
  napi_typeof(env, argv[2], &t);
  if (t != napi_undefined && !get_int(env, argv[2], "maxFds", 0, MAX_FDS, &max_fds)) return NULL;
  char *data = malloc((size_t)max_bytes);
  if (data == NULL) return throw_errno(env, "recvmsg", ENOMEM);
  control_t control;
  struct iovec iov = { data, (size_t)max_bytes };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (max_fds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * max_fds);
  }
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    free(data);
    return err == EAGAIN || err == EWOULDBLOCK ? null_value(env) : throw_errno(env, "recvmsg", err);
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    for (size_t off = 0; CMSG_LEN(off + sizeof(int)) <= c->cmsg_len; off += sizeof(int), seen++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + off, sizeof(int));
      if (nfds <= MAX_FDS) fds[nfds++] = got; else close(got);
    }
  }
  /* CMSG_SPACE padding can fit one fd more than maxFds: refuse that message too. */
  bool ctrunc = (msg.msg_flags & MSG_CTRUNC) || seen > max_fds;
  bool truncated = ctrunc || (msg.msg_flags & MSG_TRUNC);
  if (ctrunc || n == 0) { /* n == 0 reads as EOF: fds with an empty message are dropped too */
    while (nfds > 0) close(fds[--nfds]);
  }
  napi_value result, buffer, list;
  napi_status status = napi_create_buffer_copy(env, (size_t)n, data, NULL, &buffer);
  free(data);
  if (status != napi_ok) {
    while (nfds > 0) close(fds[--nfds]);
    return throw_errno(env, "recvmsg", ENOMEM);
  }
  napi_create_array_with_length(env, (size_t)nfds, &list);
  for (int i = 0; i < nfds; i++) napi_set_element(env, list, (uint32_t)i, num(env, fds[i]));
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "data", buffer);
  napi_set_named_property(env, result, "fds", list);
  napi_set_named_property(env, result, "truncated", boolean(env, truncated));
  return result;
}

/* ---------- plain fd helpers ---------- */

static napi_value close_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  /* Linux releases the fd even when close() reports EINTR: never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

/* dup(fd) -> a close-on-exec copy. */
static napi_value dup_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return copy < 0 ? throw_errno(env, "dup", errno) : num(env, copy);
}

/* reap(pid) -> pid when a finished child was reaped, 0 while it runs, -1 when it is not our
 * child (ECHILD). For the container keeper (PID 1): masters of later generations are
 * re-parented to it and libuv, which only waits for the children it spawned, never reaps them.
 * Never call it for a pid that libuv spawned: libuv must see that exit itself. */
static napi_value reap_pid(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, pid);
  int status;
  pid_t r = waitpid((pid_t)pid, &status, WNOHANG);
  if (r < 0) return errno == ECHILD ? num(env, -1) : throw_errno(env, "waitpid", errno);
  return num(env, (int)r);
}

/* getSocketInfo(fd) -> { type: 'stream'|'dgram'|'seqpacket'|'other', domain: 'inet'|'inet6'|'unix'|'other', listening } */
static napi_value socket_info(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  int type, domain, listening;
  socklen_t len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
      getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
    return throw_errno(env, "getsockopt", errno);
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "type", str(env, type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram"
                                                   : type == SOCK_SEQPACKET ? "seqpacket" : "other"));
  napi_set_named_property(env, out, "domain", str(env, domain == AF_INET ? "inet" : domain == AF_INET6 ? "inet6"
                                                     : domain == AF_UNIX ? "unix" : "other"));
  napi_set_named_property(env, out, "listening", boolean(env, listening != 0));
  return out;
}

/*
 * peerCred(fd) -> { pid, uid, gid } of the process that connected a Unix socket (SO_PEERCRED:
 * the credentials the kernel recorded at connect(), not forgeable by the peer). The servers of
 * the run dir check it before reading a byte: the socket modes are the first fence, this the
 * second. Linux (and this file) only.
 */
static napi_value peer_cred(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, "getsockopt", errno);
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "pid", num(env, (int)cred.pid));
  napi_set_named_property(env, out, "uid", num(env, (int)cred.uid));
  napi_set_named_property(env, out, "gid", num(env, (int)cred.gid));
  return out;
}

/* ---------- readiness: one uv_poll_t per fd ---------- */

typedef struct {
  uv_poll_t handle; /* first member: the uv handle pointer is the poller pointer */
  napi_env env;
  napi_ref callback;
  napi_async_context context;
} poller_t;

/* What the JS External holds; p is NULL once the poller is closed. */
typedef struct { poller_t *p; } poll_box_t;

static void on_closed(uv_handle_t *h) { free(h); }

/* Stops watching at once (the fd may be closed right after); memory goes on the next loop turn. */
static void poller_close(poll_box_t *box) {
  poller_t *p = box->p;
  if (p == NULL) return;
  box->p = NULL;
  uv_poll_stop(&p->handle);
  napi_delete_reference(p->env, p->callback);
  napi_async_destroy(p->env, p->context);
  uv_close((uv_handle_t *)&p->handle, on_closed);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poller_t *p = (poller_t *)h;
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_value cb, global, result, argv[2];
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_global(env, &global);
  argv[0] = num(env, status);
  argv[1] = num(env, events);
  /* make_callback (not call_function) so promise jobs and nextTicks run right after. */
  if (napi_make_callback(env, p->context, global, cb, 2, argv, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) { /* report it as uncaught instead of losing it */
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* Runs when JS drops the handle, or when the environment is torn down (worker exit). */
static void box_finalize(napi_env env, void *data, void *hint) {
  poller_close(data);
  free(data);
}

static poll_box_t *get_box(napi_env env, napi_value v) {
  poll_box_t *box = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_external) napi_get_value_external(env, v, (void **)&box);
  if (box == NULL) throw_arg(env, false, "expected a poll handle from pollOpen()");
  return box;
}

/* pollOpen(fd, callback(status, events)) -> handle, not watching until pollSet. */
static napi_value poll_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  FD_ARG(0, fd);
  napi_valuetype t;
  uv_loop_t *loop;
  napi_value external;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) return throw_arg(env, false, "callback must be a function");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, "uv_poll_init", EINVAL);
  poller_t *p = calloc(1, sizeof *p);
  poll_box_t *box = calloc(1, sizeof *box);
  int rc = p && box ? uv_poll_init(loop, &p->handle, fd) : UV_ENOMEM; /* UV_EEXIST: fd already watched */
  if (rc < 0) {
    free(p);
    free(box);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  p->env = env;
  box->p = p;
  napi_create_reference(env, argv[1], 1, &p->callback);
  napi_async_init(env, NULL, str(env, "mosnd:fdpoll"), &p->context);
  napi_create_external(env, box, box_finalize, NULL, &external);
  return external;
}

/* pollSet(handle, events): 1 readable | 2 writable (libuv's values); 0 stops watching. */
static napi_value poll_set(napi_env env, napi_callback_info info) {
  ARGS(2);
  poll_box_t *box = get_box(env, argv[0]);
  int events;
  if (box == NULL || !get_int(env, argv[1], "events", 0, UV_READABLE | UV_WRITABLE, &events)) return NULL;
  if (box->p == NULL) return throw_arg(env, false, "the poll handle is closed");
  int rc = events ? uv_poll_start(&box->p->handle, events, on_poll) : uv_poll_stop(&box->p->handle);
  return rc < 0 ? throw_errno(env, "uv_poll_start", -rc) : NULL;
}

/* pollClose(handle): idempotent; call it before closing the fd. */
static napi_value poll_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  poll_box_t *box = get_box(env, argv[0]);
  if (box != NULL) poller_close(box);
  return NULL;
}

NAPI_MODULE_INIT() {
  static int listen_mode = 1; /* callback data telling seqpacket_open to bind + listen */
  static const struct { const char *name; napi_callback fn; void *data; } fns[] = {
    { "seqpacketListen", seqpacket_open, &listen_mode }, { "seqpacketConnect", seqpacket_open, NULL },
    { "accept", accept_fd, NULL }, { "send", send_msg, NULL }, { "recv", recv_msg, NULL },
    { "close", close_fd, NULL }, { "dup", dup_fd, NULL }, { "reap", reap_pid, NULL },
    { "getSocketInfo", socket_info, NULL }, { "datagramSend", datagram_send, NULL }, { "peerCred", peer_cred, NULL },
    { "pollOpen", poll_open, NULL }, { "pollSet", poll_set, NULL }, { "pollClose", poll_close, NULL },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, fns[i].data, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_set_named_property(env, exports, "MAX_FDS", num(env, MAX_FDS));
  return exports;
}
